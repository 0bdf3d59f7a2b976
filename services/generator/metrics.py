"""Prometheus metrics of the generator container (generate, replay): one place, fixed names."""

from __future__ import annotations

import math
from collections.abc import Callable

import redis
from prometheus_client import Counter, Gauge, disable_created_metrics, start_http_server

TRANSACTIONS = Counter(
    "rtad_generator_transactions",
    "Simulated transactions, by fraud scenario (genuine for normal ones).",
    ["scenario"],
)
RECORDS_SENT = Counter(
    "rtad_generator_records_sent",
    "Records written to the input streams, by source (generate or replay).",
    ["source"],
)
DEADLETTER = Counter(
    "rtad_generator_deadletter",
    "Records sent to the dead-letter stream, by reason code.",
    ["reason"],
)
#: Every reason code, exported at 0 from the start: a dashboard's rate() of a series that
#: does not exist yet shows "No data" instead of a healthy 0.
DEADLETTER_REASONS = ("invalid_json", "invalid_record")
for _reason in DEADLETTER_REASONS:
    DEADLETTER.labels(reason=_reason)
BACKPRESSURE_WAIT = Counter(
    "rtad_generator_backpressure_wait_seconds",
    "Seconds producers slept because a shard's unread backlog was above the high-water mark.",
)
BACKLOG = Gauge(
    "rtad_generator_backlog_entries",
    "Entries in each input shard's stream (read when scraped).",
    ["shard"],
)


def serve(port: int) -> None:
    """Expose /metrics on ``port`` (0 = off)."""
    if port:
        disable_created_metrics()  # *_created series only clutter dashboards
        start_http_server(port)


def watch_backlog(shards: int, xlen: Callable[[int], int]) -> None:
    """Make the backlog gauge ask Redis (``xlen(shard)``) at scrape time."""
    for shard in range(shards):
        BACKLOG.labels(shard=str(shard)).set_function(_reader(xlen, shard))


def _reader(xlen: Callable[[int], int], shard: int) -> Callable[[], float]:
    def read() -> float:
        # A scrape must not fail because Redis is away for a moment: NaN says "unknown".
        try:
            return float(xlen(shard))
        except (redis.RedisError, OSError):
            return math.nan

    return read
