"""Periodic upkeep of the worker: trimming, group gauges, forgetting dead consumers.

- Feature streams are inputs: trimmed with ``trim_to_committed`` (never past what a reader
  has not acknowledged).
- Score and alert streams are outputs nobody consumes in a group: they are kept bounded by
  time, ``XTRIM MINID`` older than ``retention_s``.
- Every restart of a replica is a new consumer name; consumers with nothing pending and idle
  for longer than :data:`CONSUMER_GC_MS` are deleted so ``XINFO CONSUMERS`` stays readable.
- Lag and pending gauges: by one replica at a time (:mod:`rtad.scorer.worker.group_gauges`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis

from rtad.common.redis_streams import GroupReader, trim_to_committed
from rtad.scorer.settings import ScorerSettings
from rtad.scorer.worker.group_gauges import GroupGauges

log = logging.getLogger(__name__)

CONSUMER_GC_MS = 3_600_000


class Maintenance:
    """Runs :meth:`run` at most every ``maintenance_interval_s``."""

    def __init__(self, client: redis.Redis, reader: GroupReader, settings: ScorerSettings) -> None:
        self.client = client
        self.reader = reader
        self.settings = settings
        self.names = settings.streams
        self.gauges = GroupGauges(client, reader, settings.maintenance_interval_s)
        self._next = 0.0

    def run_if_due(self) -> bool:
        if time.monotonic() < self._next:
            return False
        self.run()
        self._next = time.monotonic() + self.settings.maintenance_interval_s
        return True

    def run(self) -> None:
        self.trim()
        self.gauges.refresh()
        self.forget_dead_consumers()

    def trim(self, now_ms: int | None = None) -> dict[str, int]:
        """Trim every shard; returns the number of entries removed per key."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        minid = f"{max(now_ms - self.settings.retention_s * 1000, 0)}-0"
        removed: dict[str, int] = {}
        for shard in range(self.names.shards):
            features = self.names.key("features", shard)
            removed[features] = trim_to_committed(self.client, features)
            for kind in ("scores", "alerts", "challenger-scores"):
                key = self.names.key(kind, shard)  # type: ignore[arg-type]
                removed[key] = int(self.client.xtrim(key, minid=minid, approximate=True))
        return removed

    def forget_dead_consumers(self) -> None:
        for key in self.reader.keys:
            consumers: Any = self.client.xinfo_consumers(key, self.reader.group)
            for consumer in consumers:
                name = consumer["name"]
                name = name.decode() if isinstance(name, bytes) else name
                idle = int(consumer.get("inactive", consumer.get("idle", 0)))
                if (
                    name != self.reader.consumer
                    and not consumer["pending"]
                    and (idle > CONSUMER_GC_MS)
                ):
                    self.client.xgroup_delconsumer(key, self.reader.group, name)
                    log.info("forgot consumer %s of %s (idle, nothing pending)", name, key)
