"""Prometheus metrics of ``rtad stream``, fed by a StreamingQueryListener on the driver.

Rows out and dead letters are counted where they happen — in the same Redis transaction as
the feature entries, in the dead-letter script — in per-shard hashes ``rtad:meta:stream-stats:{s}``;
the listener turns their growth into counters, so replays never count twice.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from prometheus_client import Counter, Gauge, Histogram
from pyspark.sql.streaming import StreamingQueryListener

from rtad.common.streams import StreamNames
from rtad.streaming.job import input_rows
from rtad.streaming.session import executor_count

log = logging.getLogger(__name__)

ROWS_IN = Counter("rtad_stream_rows_in_total", "Transactions read from the input streams.")
ROWS_OUT = Counter("rtad_stream_rows_out_total", "Feature entries written.")
BATCHES = Counter("rtad_stream_batches_total", "Micro-batches completed.")
BATCH_DURATION = Histogram(
    "rtad_stream_batch_duration_seconds",
    "Wall time of one micro-batch.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120),
)
STATE_ROWS = Gauge(
    "rtad_stream_state_rows",
    "Rows of the job's state store: two per slot of cards (its cards, its cache tag).",
)
INPUT_LAG = Gauge(
    "rtad_stream_input_lag_entries",
    "Input entries not yet committed by the job (length of the trimmed tx stream).",
    ["shard"],
)
DEADLETTER = Counter(
    "rtad_stream_deadletter_total", "Input entries sent to the dead-letter stream."
)
EXECUTORS = Gauge("rtad_stream_executors", "Spark executors serving the job.")


class RedisCounters:
    """Turns the monotonic per-shard totals in Redis into increments of local counters."""

    def __init__(self, client: redis.Redis, names: StreamNames) -> None:
        self.client = client
        self.names = names
        self.seen = self._totals()

    def _totals(self) -> dict[str, int]:
        totals = {"rows_out": 0, "deadletter": 0}
        for shard in range(self.names.shards):
            fields: Any = self.client.hgetall(self.names.stream_stats_key(shard))
            for name in totals:
                totals[name] += int(fields.get(name.encode(), 0))
        return totals

    def refresh(self) -> None:
        now = self._totals()
        ROWS_OUT.inc(max(now["rows_out"] - self.seen["rows_out"], 0))
        DEADLETTER.inc(max(now["deadletter"] - self.seen["deadletter"], 0))
        self.seen = now
        for shard in range(self.names.shards):
            INPUT_LAG.labels(shard=str(shard)).set(self.client.xlen(self.names.key("tx", shard)))


class MetricsListener(StreamingQueryListener):
    """Feeds the ``rtad_stream_*`` metrics from query progress (runs on the driver)."""

    def __init__(self, spark: Any, counters: RedisCounters) -> None:
        self.spark = spark
        self.counters = counters

    def onQueryStarted(self, event: Any) -> None:
        self._refresh()

    def onQueryProgress(self, event: Any) -> None:
        progress = event.progress
        ROWS_IN.inc(input_rows(progress))  # Spark's own count is of the source's rows
        BATCHES.inc()
        BATCH_DURATION.observe(progress.batchDuration / 1000.0)
        STATE_ROWS.set(sum(op.numRowsTotal for op in progress.stateOperators))
        self._refresh()

    def onQueryIdle(self, event: Any) -> None:
        self._refresh()

    def onQueryTerminated(self, event: Any) -> None:
        self._refresh()

    def _refresh(self) -> None:
        # a metrics hiccup (Redis restarting) must never fail the query
        try:
            self.counters.refresh()
            EXECUTORS.set(executor_count(self.spark))
        except Exception as exc:  # noqa: BLE001
            log.warning("stream metrics not refreshed: %s", exc)
