"""``rtad generate`` without the command line: simulate, pace, count, write, stop cleanly."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis

from rtad.common.errors import RtadError
from rtad.common.redis_streams import StreamProducer, connect
from rtad.common.stopping import StopRequested, interruptible_sleep
from rtad.generator import metrics
from rtad.generator.settings import GeneratorSettings
from rtad.generator.simulator import SimConfig, generate_records
from rtad.generator.sinks import Closing, Pacer, Sink, StreamSink

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What a generate run wrote: records, of which fraudulent, and how fast."""

    records: int
    fraud: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


def stream_sink(
    settings: GeneratorSettings, source: str, stop: threading.Event | None = None
) -> StreamSink:
    """A sink into the input streams of ``settings`` (checked connection, backpressure on)."""
    return StreamSink(stream_producer(settings, stop=stop), source=source)


def stream_producer(
    settings: GeneratorSettings, attempts: int = 5, stop: threading.Event | None = None
) -> StreamProducer:
    """A producer into the input streams of ``settings`` (checked connection, backpressure on).

    ``attempts``: connection tries with backoff; a long-running generator waits for Redis to
    come up, a one-shot command run by a person (replay) should fail fast. ``stop`` ends a
    backpressure wait (:class:`StopRequested`).
    """
    client = connect(settings.redis_url.get_secret_value(), attempts=attempts)
    producer = StreamProducer(
        client,
        settings.streams,
        "tx",
        batch_size=settings.producer_batch,
        high_water=settings.high_water,
        low_water=settings.low_water,
        on_wait=BackpressureNotice(settings.high_water),
        sleep=interruptible_sleep(stop),
    )
    metrics.watch_backlog(settings.shards, producer.backlog)
    return producer


class BackpressureNotice:
    """Counts backpressure sleeps and says so in the log, at most every ``every`` seconds.

    Without it a generator with no reader (Spark not started) would just look frozen.
    """

    def __init__(self, high_water: int, every: float = 15.0) -> None:
        self.high_water = high_water
        self.every = every
        self._waited = 0.0
        self._last = -every

    def __call__(self, seconds: float) -> None:
        metrics.BACKPRESSURE_WAIT.inc(seconds)
        self._waited += seconds
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            log.warning(
                "backpressure: a shard holds more than %d unread entries; waiting for the "
                "readers (Spark) to catch up (%.0fs so far)",
                self.high_water,
                self._waited,
            )


def run_generate(
    config: SimConfig, sink: Sink, rate: float | None = None, stop: threading.Event | None = None
) -> RunSummary:
    """Write ``config``'s records to ``sink`` at ``rate``/s until done or ``stop`` is set.

    A broker or disk failure on the way is one :class:`RtadError` line, saying how far it got.
    """
    pacer = Pacer(rate, idle=sink.flush_due)
    summary = RunSummary(0, 0, 0.0)
    started = time.perf_counter()
    try:
        with Closing(sink):
            _pump(config, sink, pacer, stop, summary)
    except StopRequested:
        pass  # stopped while waiting for readers: what was sent is counted
    except redis.RedisError as exc:
        raise RtadError(f"Redis failed after {summary.records} records: {exc}") from None
    except OSError as exc:
        raise RtadError(f"cannot write after {summary.records} records: {exc}") from None
    summary.seconds = time.perf_counter() - started
    return summary


def _pump(
    config: SimConfig,
    sink: Sink,
    pacer: Pacer,
    stop: threading.Event | None,
    summary: RunSummary,
) -> None:
    counters: dict[str, Any] = {}
    for record in generate_records(config):
        if stop is not None and stop.is_set():
            return
        # Counted first: a write may flush the batch holding this record and then be
        # interrupted (StopRequested) while waiting for readers.
        summary.records += 1
        summary.fraud += record["is_fraud"]
        scenario = record.get("fraud_scenario", "genuine")
        counter = counters.get(scenario)
        if counter is None:
            counter = counters[scenario] = metrics.TRANSACTIONS.labels(scenario=scenario)
        counter.inc()
        sink.write(record)
        pacer.tick()
