"""Group-wide gauges (consumer lag and pending entries per shard), exported by one replica.

Every replica could read the same figures from Redis, but then each would export them and a
dashboard's ``sum`` would read N times too high with N replicas. So a replica exports them only
while it holds a short lease in Redis (``SET NX PX``, renewed on every refresh); the others
remove their series. When the holder stops it lets the lease go, when it dies the lease
expires, and the next replica to refresh takes it over.
"""

from __future__ import annotations

from typing import Any

import redis

from rtad.common.redis_streams import GroupReader
from rtad.scorer import metrics

#: Take the lease if it is free, renew it if it is ours: 1 if we hold it now, else 0.
ACQUIRE_SCRIPT = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
#: Delete the lease only if it is ours.
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
LEASE_PERIODS = 3  # the lease outlives this many refresh periods without a renewal


class GroupGauges:
    """Refreshes the lag and pending gauges when this replica holds the lease."""

    def __init__(self, client: redis.Redis, reader: GroupReader, period_s: float) -> None:
        self.client = client
        self.reader = reader
        self.names = reader.names
        self.key = self.names.scorer_gauges_lease_key()
        self.lease_ms = max(int(LEASE_PERIODS * period_s * 1000), 1000)
        self._acquire = client.register_script(ACQUIRE_SCRIPT)
        self._release = client.register_script(RELEASE_SCRIPT)
        self.exporting = False

    def refresh(self) -> bool:
        """Export the figures if we hold (or can take) the lease; True if we exported."""
        held = bool(self._acquire(keys=[self.key], args=[self.reader.consumer, self.lease_ms]))
        if not held:
            self._clear()
            return False
        for key, lag in self.reader.lag().items():
            metrics.CONSUMER_LAG.labels(shard=str(self.names.shard_from_key(key))).set(lag)
        for shard, key in enumerate(self.reader.keys):
            summary: Any = self.client.xpending(key, self.reader.group)
            metrics.PENDING.labels(shard=str(shard)).set(int(summary["pending"]))
        self.exporting = True
        return True

    def release(self) -> None:
        """Let the lease go (if ours) and stop exporting: another replica takes over."""
        self._release(keys=[self.key], args=[self.reader.consumer])
        self._clear()

    def _clear(self) -> None:
        if self.exporting:
            metrics.CONSUMER_LAG.clear()
            metrics.PENDING.clear()
            self.exporting = False
