"""The worker's consumer: XREADGROUP and XAUTOCLAIM replies handed back unparsed."""

from __future__ import annotations

from typing import Any

import redis

from rtad.common.redis_streams import GroupReader
from rtad.scorer.worker.decode import ShardEntries


def _raw(reply: Any, **_options: Any) -> Any:
    return reply


class FeatureReader(GroupReader):
    """A :class:`GroupReader` that hands back XREADGROUP/XAUTOCLAIM replies unparsed.

    redis-py turns every entry into a dict; the worker reads the flat field lists as they
    come (:mod:`rtad.scorer.worker.decode`), so a client sharing the same connection pool
    keeps them.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        self.raw = redis.Redis(connection_pool=self.client.connection_pool)
        for command in ("XREADGROUP", "XAUTOCLAIM"):
            self.raw.set_response_callback(command, _raw)
        self.shard_of_key = {key.encode(): shard for shard, key in enumerate(self.keys)}

    def read_groups(self, count: int, block_ms: int | None) -> list[ShardEntries]:
        """New entries of every shard: ``[(shard, [(id, [field, value, ...]), ...]), ...]``."""
        reply: Any = self.raw.xreadgroup(
            self.group, self.consumer, {k: ">" for k in self.keys}, count=count, block=block_ms
        )
        # RESP3 answers a map {key: entries}, RESP2 a list of [key, entries] pairs.
        pairs = reply.items() if isinstance(reply, dict) else (reply or [])
        return [(self.shard_of_key[key], entries) for key, entries in pairs if entries]

    def claim(
        self, shard: int, min_idle_ms: int, count: int, start: bytes
    ) -> tuple[bytes, list[Any]]:
        """One XAUTOCLAIM step on a shard: ``(next cursor, [(id, fields), ...])``."""
        reply: Any = self.raw.xautoclaim(
            self.keys[shard], self.group, self.consumer, min_idle_ms, start, count=count
        )
        entries = [e for e in reply[1] if e and e[1] is not None]
        return reply[0], entries
