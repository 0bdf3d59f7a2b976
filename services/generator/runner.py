"""``rtad generate`` without the command line: simulate, pace, count, write, stop cleanly."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from rtad.common.redis_streams import StreamProducer, connect
from rtad.generator import metrics
from rtad.generator.settings import GeneratorSettings
from rtad.generator.simulator import SimConfig, generate_records
from rtad.generator.sinks import Closing, Pacer, Sink, StreamSink


@dataclass
class RunSummary:
    records: int
    fraud: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


def stream_sink(settings: GeneratorSettings, source: str) -> StreamSink:
    """A sink into the input streams of ``settings`` (checked connection, backpressure on)."""
    return StreamSink(stream_producer(settings), source=source)


def stream_producer(settings: GeneratorSettings, attempts: int = 5) -> StreamProducer:
    """A producer into the input streams of ``settings`` (checked connection, backpressure on).

    ``attempts``: connection tries with backoff; a long-running generator waits for Redis to
    come up, a one-shot command run by a person (replay) should fail fast.
    """
    client = connect(settings.redis_url.get_secret_value(), attempts=attempts)
    producer = StreamProducer(
        client,
        settings.streams,
        "tx",
        batch_size=settings.producer_batch,
        high_water=settings.high_water,
        low_water=settings.low_water,
        on_wait=metrics.BACKPRESSURE_WAIT.inc,
    )
    metrics.watch_backlog(settings.shards, producer.backlog)
    return producer


def run_generate(
    config: SimConfig, sink: Sink, rate: float | None = None, stop: threading.Event | None = None
) -> RunSummary:
    """Write ``config``'s records to ``sink`` at ``rate``/s until done or ``stop`` is set."""
    pacer = Pacer(rate)
    counters: dict[str, Any] = {}
    records = fraud = 0
    started = time.perf_counter()
    with Closing(sink):
        for record in generate_records(config):
            if stop is not None and stop.is_set():
                break
            sink.write(record)
            scenario = record.get("fraud_scenario", "genuine")
            counter = counters.get(scenario)
            if counter is None:
                counter = counters[scenario] = metrics.TRANSACTIONS.labels(scenario=scenario)
            counter.inc()
            records += 1
            fraud += record["is_fraud"]
            pacer.tick()
    return RunSummary(records, fraud, time.perf_counter() - started)
