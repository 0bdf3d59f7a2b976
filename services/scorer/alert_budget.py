"""The alert budget: a threshold that keeps alerts per hour at what the analysts can review.

With ``RTAD_ALERT_MODE=budget`` each shard raises its share of ``RTAD_ALERT_BUDGET_PER_HOUR``
(alerts per hour of event time). The share of transactions to alert is the budget over the
shard's traffic of the last ``RTAD_ALERT_BUDGET_WINDOW_S`` (a day by default: traffic has a
daily cycle, and the budget holds over it); the threshold is that quantile of the most recent
scores, the last hour's, or a longer span when the last hour holds too few transactions for a
stable rank (the night). So the threshold follows a change in the scores (a wave of fraud)
within the hour, while the alerts follow the daily traffic and add up to the budget a day.

The state of a shard is, per model, one small sorted set per 15-minute bucket of event time
holding its top scores (never more than a few times the hour's share can reach a threshold),
and one hash of the transactions counted per bucket: it grows with the budget, not with the
transactions. It lives in Redis, in the shard's hash tag, and is updated inside the shard's
commit script (:meth:`AlertBudget.window_ops`), so every replica that scores the shard reads
the same state; the threshold is read back after commits (:data:`THRESHOLD_SCRIPT`) and used
from the shard's next batch on. Until a shard has counted a bucket's worth of transactions,
or when too few scores are kept, the model's fixed threshold applies.
``RTAD_ALERT_MODE=fixed`` keeps the model's own threshold and writes nothing.

>>> shape = BudgetShape(per_hour=100, shards=4, window_s=86_400)
>>> shape.buckets, shape.short_buckets, shape.capacity
(96, 4, 100)
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from rtad.common.resp import pack_command
from rtad.common.streams import StreamNames

BUCKET_S = 900
SHORT_S = 3600
#: the rank of a threshold is at least this (a quantile of fewer scores is noise)
MIN_RANK = 3
#: Wall-clock lifetime of the budget's keys beyond the window (replayed days pass in minutes).
TTL_MARGIN_S = 3600
#: Pairs per HSET or ZADD of the commit script's tail (Lua's ``unpack`` stops at 8000 values).
PAIRS_PER_OP = 500

#: KEYS[1] the counts hash, then each model's bucket sets, oldest first. ARGV[1] models,
#: [2] buckets, [3] short buckets, [4] alerts wanted per ms, [5] bucket ms, [6] ms elapsed in
#: the newest bucket, [7] the least rank, then the buckets' numbers (the counts' fields), then
#: per model the fields of its alerts per bucket. Returns per model the threshold ('' when
#: none can be had). The rank is corrected by the alerts raised over the window against the
#: budget's (at most by a factor of two): what the quantile's lag let through, or held back,
#: is made up for, so the budget holds on average.
THRESHOLD_SCRIPT = """
local models, n, short = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local rate, bucket, elapsed, least = tonumber(ARGV[4]), tonumber(ARGV[5]),
  tonumber(ARGV[6]), tonumber(ARGV[7])
local counts = redis.call('HMGET', KEYS[1], unpack(ARGV, 8, 7 + n))
local first, total = nil, 0
for i = 1, n do
  local c = tonumber(counts[i]) or 0
  counts[i] = c
  total = total + c
  if c > 0 and not first then first = i end
end
if not first or n - first < 1 then
  local none = {}
  for m = 1, models do none[m] = '' end
  return none
end
local covered = (n - first) * bucket + elapsed
local share = rate * covered / total
local span, rank = short, 0
while true do
  local seen = 0
  for i = n - span + 1, n do seen = seen + counts[i] end
  rank = share * seen
  if rank >= least or span >= n - first + 1 then break end
  span = math.min(span * 2, n - first + 1)
end
local out = {}
for m = 0, models - 1 do
  -- alerts raised over the window against the budget's: the rank corrects the difference
  local raised = redis.call('HMGET', KEYS[1], unpack(ARGV, 8 + n + m * n, 7 + n + (m + 1) * n))
  local sum = 0
  for i = first, n do sum = sum + (tonumber(raised[i]) or 0) end
  local wanted, fix = rate * covered, 1
  if wanted >= 4 * least then fix = math.min(2, math.max(0.5, wanted / math.max(sum, 1))) end
  local r = math.max(1, math.floor(rank * fix + 0.5))
  local scores = {}
  for b = n - span + 1, n do
    local got = redis.call('ZRANGE', KEYS[1 + m * n + b], 0, -1, 'WITHSCORES')
    for i = 2, #got, 2 do scores[#scores + 1] = tonumber(got[i]) end
  end
  table.sort(scores, function(x, y) return x > y end)
  out[#out + 1] = scores[r] and tostring(scores[r]) or ''
end
return out
"""


def alerts_field(version: str, bucket: int) -> bytes:
    """The counts hash's field of a model's alerts in a bucket."""
    return f"a:{version}:{bucket}".encode()


def event_ms(event_time: str) -> int:
    """Epoch milliseconds of an ISO 8601 event time with zone."""
    return int(datetime.fromisoformat(event_time).timestamp() * 1000)


def event_ms_array(event_times: Sequence[str]) -> np.ndarray:
    """Epoch milliseconds of every event time, as int64."""
    return np.fromiter(map(event_ms, event_times), dtype=np.int64, count=len(event_times))


@dataclass(frozen=True)
class BudgetShape:
    """The numbers of a budget: a shard's share, its buckets, what a bucket keeps."""

    per_hour: float
    shards: int
    window_s: int
    bucket_s: int = BUCKET_S

    @property
    def bucket_ms(self) -> int:
        return self.bucket_s * 1000

    @property
    def buckets(self) -> int:
        return max(2, self.window_s // self.bucket_s)

    @property
    def short_buckets(self) -> int:
        return max(1, min(self.buckets, SHORT_S // self.bucket_s))

    @property
    def per_ms(self) -> float:
        """Alerts a shard may raise per millisecond of event time."""
        return self.per_hour / self.shards / 3_600_000

    @property
    def capacity(self) -> int:
        """Scores kept per bucket: four times a shard's share of an hour (a peak hour's
        threshold), and never fewer than a few."""
        return max(2 * MIN_RANK, math.ceil(4 * self.per_hour / self.shards))


@dataclass
class AlertBudget:
    """Thresholds per (model version, shard), and the Redis writes and reads behind them."""

    names: StreamNames
    shape: BudgetShape
    enabled: bool = True
    thresholds: dict[tuple[str, int], float] = field(default_factory=dict)
    now_ms: dict[int, int] = field(default_factory=dict)  # latest event time seen per shard
    #: a shard's thresholds are read again once a twelfth of a bucket of event time or this
    #: much wall time has passed (replayed time runs faster than the clock)
    read_interval_s: float = 1.0
    _last_read: dict[int, tuple[float, int]] = field(default_factory=dict)

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

    def window_ops(
        self,
        version: str,
        shard: int,
        scores: np.ndarray,
        members: Sequence[str],
        when: np.ndarray,
        count: bool = True,
        alerted: np.ndarray | None = None,
    ) -> list[bytes]:
        """Commit-script operations adding a shard's top scores of a batch to their buckets.

        ``scores``, ``members`` (transaction IDs) and ``when`` (event times in epoch ms,
        :func:`event_ms_array`) are the shard's rows;
        each bucket gets the batch's top ``capacity`` scores of its own time span. ``count``:
        also count the rows per bucket (once per transaction: the champion's call);
        ``alerted``: the rows the model alerted on, counted per bucket too.
        """
        if not self.enabled or len(scores) == 0:
            return []
        cap = self.shape.capacity
        self.now_ms[shard] = max(self.now_ms.get(shard, 0), int(when.max()))
        buckets = when // self.shape.bucket_ms
        order = np.lexsort((-scores, buckets))  # by bucket, then highest score first
        starts = np.flatnonzero(np.r_[True, buckets[order][1:] != buckets[order][:-1]])
        by_bucket: dict[int, list[bytes]] = {}
        for start, end in zip(starts.tolist(), [*starts[1:].tolist(), len(order)], strict=True):
            pairs = by_bucket.setdefault(int(buckets[order[start]]), [])
            for i in order[start : min(end, start + cap)].tolist():
                pairs += (repr(float(scores[i])).encode(), members[i].encode())
        ttl = b"%d" % (self.shape.window_s + TTL_MARGIN_S)
        ops: list[bytes] = []
        for bucket, pairs in by_bucket.items():
            key = self.names.budget_bucket_key(version, shard, bucket).encode()
            ops += pairs_ops((b"ZADD", key), pairs)
            ops += op(b"ZREMRANGEBYRANK", key, b"0", b"%d" % -(cap + 1))
            ops += op(b"EXPIRE", key, ttl)
        if count:
            counts = self.names.budget_counts_key(shard).encode()
            for bucket, n in zip(*np.unique(buckets, return_counts=True), strict=True):
                ops += op(b"HINCRBY", counts, b"%d" % bucket, b"%d" % n)
            ops += op(b"HDEL", counts, b"%d" % (int(buckets.min()) - self.shape.buckets - 1))
        if alerted is not None and alerted.any():
            counts = self.names.budget_counts_key(shard).encode()
            for bucket, n in zip(*np.unique(buckets[alerted], return_counts=True), strict=True):
                ops += op(b"HINCRBY", counts, alerts_field(version, int(bucket)), b"%d" % n)
            old = alerts_field(version, int(buckets.min()) - self.shape.buckets - 1)
            ops += op(b"HDEL", counts, old)
        if count or alerted is not None:
            ops += op(b"EXPIRE", self.names.budget_counts_key(shard).encode(), ttl)
        return ops

    def read_command(self, shard: int, versions: Sequence[str]) -> bytes | None:
        """The packed ``EVAL`` reading the thresholds of ``versions`` on ``shard``."""
        if not self.enabled or shard not in self.now_ms:
            return None
        now = self.now_ms[shard]
        wall, event = self._last_read.get(shard, (-math.inf, -(1 << 62)))
        shape = self.shape
        if time.monotonic() - wall < self.read_interval_s and now - event < shape.bucket_ms // 12:
            return None
        self._last_read[shard] = (time.monotonic(), now)
        last = now // shape.bucket_ms
        numbers = range(last - shape.buckets + 1, last + 1)
        keys = [self.names.budget_counts_key(shard).encode()]
        keys += [
            self.names.budget_bucket_key(v, shard, b).encode() for v in versions for b in numbers
        ]
        args = [len(versions), shape.buckets, shape.short_buckets]
        args_bytes = [b"%d" % a for a in args] + [repr(shape.per_ms).encode()]
        args_bytes += [b"%d" % shape.bucket_ms, b"%d" % (now % shape.bucket_ms + 1)]
        args_bytes += [b"%d" % MIN_RANK, *(b"%d" % b for b in numbers)]
        args_bytes += [alerts_field(v, b) for v in versions for b in numbers]
        script = THRESHOLD_SCRIPT.encode()
        return pack_command(b"EVAL", script, b"%d" % len(keys), *keys, *args_bytes)

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


def pairs_ops(head: tuple[bytes, ...], pairs: list[bytes]) -> list[bytes]:
    """``head`` with the pairs, :data:`PAIRS_PER_OP` pairs a command: the commit script
    unpacks each command's arguments onto Lua's stack, which holds a few thousand at most."""
    ops: list[bytes] = []
    for start in range(0, len(pairs), 2 * PAIRS_PER_OP):
        ops += op(*head, *pairs[start : start + 2 * PAIRS_PER_OP])
    return ops
