"""The alert budget: a threshold that keeps alerts per hour at what the analysts can review.

With ``RTAD_ALERT_MODE=budget`` each shard raises its share of ``RTAD_ALERT_BUDGET_PER_HOUR``
(alerts per hour of event time). The threshold is a rank among the shard's most recent scores:

- the share of transactions to alert is the budget over the shard's traffic of the last
  ``RTAD_ALERT_BUDGET_WINDOW_S`` (a day by default: traffic has a daily cycle, and the budget
  holds over it); the rank is that share of the last hour's transactions, or of a longer
  span when the last hour holds too few for a stable rank (the night). So the threshold
  follows a change in the scores (a wave of fraud) within the hour, and the alerts follow
  the daily traffic;
- the rank is calibrated: a threshold set before a card's burst of frauds lets the whole
  burst through, so thresholds raise more alerts than they aim at when frauds come in
  bursts. Each batch records what its threshold aimed at; the rank is multiplied by the
  alerts aimed at over those raised in the window;
- the rank is corrected by the window's debt to the budget (the alerts the budget allowed
  since the window began, less those raised), made up over the next half of the window
  (twelve hours of a day): a factor ``1 + debt / (the budget of those hours)``. This takes up
  what the calibration has not learnt yet (a change in the rate of fraud, in the traffic);
- both factors together stay within :data:`CORRECTION`;
- a tie at the rank (a model giving many transactions the same score) moves the threshold
  up to the lowest kept score above it: equal scores never pass as a crowd.

The state of a shard is, per model, one small sorted set per 15-minute bucket of event time
holding its top scores (never more than a few times the hour's share can reach a threshold),
and one hash counting per bucket the transactions and, per model, its alerts and the alerts
its thresholds aimed at: it grows with the budget, not with the transactions, and the
buckets leaving the window are deleted. It lives in Redis, in the shard's hash tag, and is
updated inside the shard's commit script (:meth:`AlertBudget.window_ops`), so every replica
that scores the shard reads the same state; the threshold is computed in Redis from committed
scores only (:data:`~rtad.scorer.alert_budget_script.THRESHOLD_SCRIPT`), read back after
commits and used from the shard's next batch on. Until a shard's counted transactions span
more than one bucket, or when too few scores are kept, the model's fixed threshold applies.
``RTAD_ALERT_MODE=fixed`` keeps the model's own threshold and writes nothing.

>>> shape = BudgetShape(per_hour=100, shards=4, window_s=86_400)
>>> shape.buckets, shape.short_buckets, shape.capacity, shape.catch_up_ms // 3_600_000
(96, 4, 100, 12)
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
from rtad.scorer.alert_budget_script import CORRECTION, THRESHOLD_SCRIPT

BUCKET_S = 900
SHORT_S = 3600
#: the rank of a threshold is at least this (a quantile of fewer scores is noise)
MIN_RANK = 3
#: Wall-clock lifetime of the budget's keys beyond the window (replayed days pass in minutes).
TTL_MARGIN_S = 3600
#: Pairs per HSET or ZADD of the commit script's tail (Lua's ``unpack`` stops at 8000 values).
PAIRS_PER_OP = 500


def alerts_field(version: str, bucket: int) -> bytes:
    """The counts hash's field of a model's alerts in a bucket."""
    return f"a:{version}:{bucket}".encode()


def aimed_field(version: str, bucket: int) -> bytes:
    """The counts hash's field of the alerts a model's budget thresholds aimed at in a bucket."""
    return f"i:{version}:{bucket}".encode()


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
    def catch_up_ms(self) -> int:
        """Event time over which the window's debt to the budget is made up: half of it."""
        return self.window_s * 1000 // 2

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
    #: the aim of each threshold: the share of transactions it is meant to alert
    aims: dict[tuple[str, int], float] = field(default_factory=dict)
    now_ms: dict[int, int] = field(default_factory=dict)  # latest event time seen per shard
    #: a shard's thresholds are read again once a twelfth of a bucket of event time or this
    #: much wall time has passed (replayed time runs faster than the clock)
    read_interval_s: float = 1.0
    _last_read: dict[int, tuple[float, int]] = field(default_factory=dict)
    _pruned: dict[tuple[str, int], int] = field(default_factory=dict)  # last bucket deleted

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
        gone = self._gone(version, shard, int(buckets.min()))
        if gone:  # the TTL alone would keep a replay's buckets for a day of wall time
            ops += op(
                b"DEL", *(self.names.budget_bucket_key(version, shard, b).encode() for b in gone)
            )
        return ops + self._count_ops(version, shard, buckets, count, alerted, gone, ttl)

    def _gone(self, version: str, shard: int, first_bucket: int) -> range:
        """The buckets that left the window since the model's last batch on the shard (at most
        a window's worth: the first time, or after a jump in event time), so that none stays
        behind, not even a bucket no batch began in."""
        edge = first_bucket - self.shape.buckets - 1
        last = self._pruned.get((version, shard), edge - self.shape.buckets)
        self._pruned[(version, shard)] = max(last, edge)
        return range(max(last, edge - self.shape.buckets) + 1, edge + 1)

    def _count_ops(
        self,
        version: str,
        shard: int,
        buckets: np.ndarray,
        count: bool,
        alerted: np.ndarray | None,
        gone: range,
        ttl: bytes,
    ) -> list[bytes]:
        """The counts hash's increments of a batch: rows, the model's alerts and the alerts
        its threshold aimed at, per bucket; the fields of the ``gone`` buckets are deleted."""
        if not count and alerted is None:
            return []
        counts = self.names.budget_counts_key(shard).encode()
        per_bucket = list(zip(*np.unique(buckets, return_counts=True), strict=True))
        ops: list[bytes] = []
        stale: list[bytes] = []
        if count:
            for bucket, n in per_bucket:
                ops += op(b"HINCRBY", counts, b"%d" % bucket, b"%d" % n)
            stale += (b"%d" % b for b in gone)
        if alerted is not None:
            for bucket, n in zip(*np.unique(buckets[alerted], return_counts=True), strict=True):
                ops += op(b"HINCRBY", counts, alerts_field(version, int(bucket)), b"%d" % n)
            # Rows judged by a budget threshold add what it aimed at (the calibration's
            # denominator); the fixed threshold aims at nothing. The aim is the one in force
            # now: a read landing between a batch's scoring and this shifts one batch's aim.
            aim = self.aims.get((version, shard))
            if aim is not None:
                for bucket, n in per_bucket:
                    meant = repr(aim * int(n)).encode()
                    ops += op(b"HINCRBYFLOAT", counts, aimed_field(version, int(bucket)), meant)
            for b in gone:
                stale += (alerts_field(version, b), aimed_field(version, b))
        if stale:
            ops += op(b"HDEL", counts, *stale)
        return ops + op(b"EXPIRE", counts, ttl)

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
        args_bytes += [b"%d" % MIN_RANK, b"%d" % shape.catch_up_ms]
        args_bytes += [repr(bound).encode() for bound in CORRECTION]
        args_bytes += [b"%d" % b for b in numbers]
        for v in versions:
            args_bytes += [alerts_field(v, b) for b in numbers]
            args_bytes += [aimed_field(v, b) for b in numbers]
        script = THRESHOLD_SCRIPT.encode()
        return pack_command(b"EVAL", script, b"%d" % len(keys), *keys, *args_bytes)

    def apply(self, shard: int, versions: Sequence[str], reply: Sequence[bytes | str]) -> None:
        """Keep the thresholds the read returned, and their aims (a model whose window is
        short keeps none)."""
        texts = [value.decode() if isinstance(value, bytes) else value for value in reply]
        if len(texts) != 2 * len(versions):
            raise ValueError(f"{len(texts)} values read for {len(versions)} models, not two each")
        for version, value, aim in zip(versions, texts[0::2], texts[1::2], strict=True):
            if value:
                self.thresholds[(version, shard)] = float(value)
                self.aims[(version, shard)] = float(aim)
            else:
                self.thresholds.pop((version, shard), None)
                self.aims.pop((version, shard), None)


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
