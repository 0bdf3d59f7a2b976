"""The alert budget: a threshold that keeps alerts per hour at what the analysts can review.

With ``RTAD_ALERT_MODE=budget`` a model's threshold on shard ``s`` is the ``r``-th highest
score of the shard's last ``RTAD_ALERT_BUDGET_WINDOW_S`` of event time, where ``r`` is the
shard's share of the budget over that window (``budget_per_hour / shards * window / 3600``):
a streaming quantile of recent scores, at ``1 - r / n`` of the window's ``n`` scores. Only
the top ``r`` scores of each time bucket can ever be that high, so the state is one small
sorted set per (model, shard, bucket) holding at most ``r`` scores: it grows with the
budget, not with the transactions.

The sorted sets live in Redis, in the shard's hash tag, and are updated inside the shard's
commit script (:meth:`AlertBudget.window_ops`), so every replica that scores the shard reads
the same state; the threshold is read back after each commit (:data:`THRESHOLD_SCRIPT`) and
used from the shard's next batch on. While a window holds fewer than ``r`` scores (a cold
start) the model's fixed threshold applies. ``RTAD_ALERT_MODE=fixed`` keeps the model's own
threshold and writes nothing.

>>> budget = BudgetShape(per_hour=100, shards=4, window_s=3600, buckets=12)
>>> budget.capacity, budget.bucket_ms
(25, 300000)
>>> budget.rank(now_ms=3_600_000 + 150_000)  # half of the current bucket elapsed
24
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from rtad.common.resp import pack_command
from rtad.common.streams import StreamNames

BUCKETS = 12
#: Wall-clock lifetime of a bucket (a replayed day passes in minutes: old buckets must go).
BUCKET_TTL_S = 2 * 3600

#: KEYS: the window's buckets of each model, oldest first; ARGV[1] models, ARGV[2] buckets a
#: model, ARGV[3] the rank. Returns, per model, the rank-th highest score ('' when fewer).
THRESHOLD_SCRIPT = """
local models, per, rank = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for m = 0, models - 1 do
  local scores = {}
  for b = 1, per do
    local got = redis.call('ZRANGE', KEYS[m * per + b], 0, -1, 'WITHSCORES')
    for i = 2, #got, 2 do scores[#scores + 1] = tonumber(got[i]) end
  end
  table.sort(scores, function(x, y) return x > y end)
  out[#out + 1] = scores[rank] and tostring(scores[rank]) or ''
end
return out
"""


def event_ms(event_time: str) -> int:
    """Epoch milliseconds of an ISO 8601 event time with zone."""
    return int(datetime.fromisoformat(event_time).timestamp() * 1000)


@dataclass(frozen=True)
class BudgetShape:
    """The numbers of a budget: each shard's share, its buckets and its capacity."""

    per_hour: float
    shards: int
    window_s: int
    buckets: int = BUCKETS

    @property
    def bucket_ms(self) -> int:
        return self.window_s * 1000 // self.buckets

    @property
    def share(self) -> float:
        """Alerts a shard may raise over one window."""
        return self.per_hour / self.shards * self.window_s / 3600

    @property
    def capacity(self) -> int:
        """Scores kept per bucket: no more can be above the threshold."""
        return max(1, math.ceil(self.share))

    def rank(self, now_ms: int) -> int:
        """The rank of the threshold among the window's scores, the current bucket being
        partly elapsed (the window covers ``buckets - 1`` full buckets and that part)."""
        elapsed = now_ms % self.bucket_ms
        covered = (self.buckets - 1) * self.bucket_ms + elapsed
        return max(1, round(self.share * covered / (self.window_s * 1000)))


@dataclass
class AlertBudget:
    """Thresholds per (model version, shard), and the Redis writes and reads behind them."""

    names: StreamNames
    shape: BudgetShape
    enabled: bool = True
    thresholds: dict[tuple[str, int], float] = field(default_factory=dict)
    now_ms: dict[int, int] = field(default_factory=dict)  # latest event time seen per shard

    def threshold(self, version: str, fixed: float, shard: int) -> float:
        if not self.enabled:
            return fixed
        return self.thresholds.get((version, shard), fixed)

    def row_thresholds(self, version: str, fixed: float, shards: np.ndarray) -> np.ndarray:
        """The threshold of every row of a batch, from the shard of each row."""
        per_shard = np.full(self.names.shards, fixed, dtype=np.float64)
        if self.enabled:
            for shard in range(self.names.shards):
                per_shard[shard] = self.threshold(version, fixed, shard)
        return per_shard[shards]

    def bucket_key(self, version: str, shard: int, bucket: int) -> str:
        return self.names.meta_key(f"budget:{version}:{bucket}", shard)

    def window_ops(
        self,
        version: str,
        shard: int,
        scores: np.ndarray,
        members: Sequence[str],
        event_times: Sequence[str],
    ) -> list[bytes]:
        """Commit-script operations adding a shard's top scores of a batch to their buckets.

        ``scores``, ``members`` (transaction IDs) and ``event_times`` are the shard's rows;
        each bucket gets the batch's top ``capacity`` scores of its own time span.
        """
        if not self.enabled or len(scores) == 0:
            return []
        cap = self.shape.capacity
        when = np.fromiter(map(event_ms, event_times), dtype=np.int64, count=len(scores))
        self.now_ms[shard] = max(self.now_ms.get(shard, 0), int(when.max()))
        buckets = when // self.shape.bucket_ms
        order = np.lexsort((-scores, buckets))  # by bucket, then highest score first
        starts = np.flatnonzero(np.r_[True, buckets[order][1:] != buckets[order][:-1]])
        by_bucket: dict[int, list[bytes]] = {}
        for start, end in zip(starts.tolist(), [*starts[1:].tolist(), len(order)], strict=True):
            pairs = by_bucket.setdefault(int(buckets[order[start]]), [])
            for i in order[start : min(end, start + cap)].tolist():
                pairs += (repr(float(scores[i])).encode(), members[i].encode())
        ops: list[bytes] = []
        for bucket, pairs in by_bucket.items():
            key = self.bucket_key(version, shard, bucket).encode()
            ops += op(b"ZADD", key, *pairs)
            ops += op(b"ZREMRANGEBYRANK", key, b"0", b"%d" % -(cap + 1))
            ops += op(b"EXPIRE", key, b"%d" % BUCKET_TTL_S)
        return ops

    def read_command(self, shard: int, versions: Sequence[str]) -> bytes | None:
        """The packed ``EVAL`` reading the thresholds of ``versions`` on ``shard``."""
        if not self.enabled or shard not in self.now_ms:
            return None
        now = self.now_ms[shard]
        last = now // self.shape.bucket_ms
        keys = [
            self.bucket_key(v, shard, b).encode()
            for v in versions
            for b in range(last - self.shape.buckets + 1, last + 1)
        ]
        args = [b"%d" % len(versions), b"%d" % self.shape.buckets, b"%d" % self.shape.rank(now)]
        return pack_command(b"EVAL", THRESHOLD_SCRIPT.encode(), b"%d" % len(keys), *keys, *args)

    def apply(self, shard: int, versions: Sequence[str], reply: Sequence[bytes | str]) -> None:
        """Keep the thresholds the read returned (a model whose window is short keeps none)."""
        for version, value in zip(versions, reply, strict=True):
            text = value.decode() if isinstance(value, bytes) else value
            if text:
                self.thresholds[(version, shard)] = float(text)
            else:
                self.thresholds.pop((version, shard), None)


def op(*args: bytes) -> list[bytes]:
    """One operation of the commit script's tail: its argument count, then its arguments."""
    return [b"%d" % len(args), *args]
