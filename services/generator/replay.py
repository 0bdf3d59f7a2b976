"""``rtad replay`` without the command line: a file's valid records into the input streams.

Every record is validated with the contract (:mod:`rtad.common.schema`); a valid one is written,
as ``to_json(tx)``, to the shard of its ``user_id``; a bad one goes to the dead-letter stream
with its reason, the original text and ``file:line``. Nothing is dropped silently.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from rtad.common.errors import RtadError
from rtad.common.readers import Item, Progress, open_records
from rtad.common.redis_streams import StreamProducer
from rtad.common.schema import Transaction, to_json
from rtad.common.stopping import StopRequested
from rtad.common.streams import shard_of
from rtad.generator import metrics
from rtad.generator.sinks import Pacer

STAGE = "replay"
PROGRESS_EVERY = 4096
CARD_CACHE = 1_000_000  # user_id -> shard entries kept (CRC-32 once per card)


@dataclass
class ReplaySummary:
    """What a replay did: records sent, dead-lettered (by reason code), and how fast."""

    sent: int = 0
    deadlettered: int = 0
    seconds: float = 0.0
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def per_second(self) -> float:
        total = self.sent + self.deadlettered
        return total / self.seconds if self.seconds > 0 else 0.0


def reason_code(reason: str) -> str:
    """The short, fixed metric label of a dead-letter reason."""
    return "invalid_json" if reason.startswith("malformed JSON") else "invalid_record"


class _Publisher:
    """Brings the Prometheus counters up to date in bulk (the hot loop stays lock-free)."""

    def __init__(self) -> None:
        self.sent = 0
        self.reasons: Counter[str] = Counter()

    def publish(self, summary: ReplaySummary) -> None:
        metrics.RECORDS_SENT.labels(source="replay").inc(summary.sent - self.sent)
        self.sent = summary.sent
        for code, count in summary.reasons.items():
            if count > self.reasons[code]:
                metrics.DEADLETTER.labels(reason=code).inc(count - self.reasons[code])
        self.reasons = summary.reasons.copy()


def replay_file(
    path: Path,
    producer: StreamProducer,
    *,
    rate: float | None = None,
    stop: threading.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> ReplaySummary:
    """Validate and send every record of ``path``; returns what was sent and dead-lettered."""
    items, progress = open_records(path)
    summary = ReplaySummary()
    publisher = _Publisher()
    started = time.perf_counter()
    try:
        _pump(items, producer, summary, str(path), rate, stop, publisher, progress, on_progress)
        producer.close()
    except StopRequested:
        pass  # stopped while waiting for readers: what was sent is counted
    except redis.RedisError as exc:
        raise RtadError(f"Redis failed during replay after {summary.sent} records: {exc}") from None
    finally:
        publisher.publish(summary)
    if on_progress is not None:
        on_progress(progress)
    summary.seconds = time.perf_counter() - started
    return summary


def _pump(
    items: Iterator[Item],
    producer: StreamProducer,
    summary: ReplaySummary,
    source: str,
    rate: float | None,
    stop: threading.Event | None,
    publisher: _Publisher,
    progress: Progress,
    on_progress: Callable[[Progress], None] | None,
) -> None:
    """The hot loop: names bound locally, shards of cards cached."""
    shards = producer.names.shards
    send, encode, tick = producer.send, to_json, Pacer(rate, idle=producer.flush_due).tick
    cards: dict[str, int] = {}
    for n, (line, raw, result) in enumerate(items, 1):
        if type(result) is Transaction:
            shard = cards.get(result.user_id)
            if shard is None:
                if len(cards) > CARD_CACHE:
                    cards.clear()
                shard = cards[result.user_id] = shard_of(result.user_id, shards)
            summary.sent += 1  # first: a send may flush, then be stopped while waiting
            send(shard, encode(result))
        else:
            where = f"{source}:{line}"
            summary.deadlettered += 1
            summary.reasons[reason_code(str(result))] += 1
            producer.deadletter(shard_of(where, shards), str(result), STAGE, raw, where)
        if rate is not None:
            tick()
        if n % PROGRESS_EVERY == 0:
            publisher.publish(summary)
            if on_progress is not None:
                on_progress(progress)
        if stop is not None and stop.is_set():
            return
