"""The alert budget's threshold recomputed in Python: the Redis script's reference, and the
controllers of decision 0007 that the budget benchmark compares with it.

:func:`threshold` reads a shard's window as ``THRESHOLD_SCRIPT`` does; the correction of the
rank is a function of the :class:`Window` (:func:`calibrated_debt` is the script's own).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rtad.scorer.alert_budget import MIN_RANK, BudgetShape
from rtad.scorer.alert_budget_script import CORRECTION

Row = tuple[float, int, bool]  # a model's (score, event ms, alerted) of one transaction
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Window:
    """A shard's counted buckets from the first busy one to now, as the script reads them."""

    shape: BudgetShape
    counts: list[int]
    alerts: list[int]
    aimed: list[float]
    #: alerts the budget allowed since the window's first bucket
    wanted: float
    #: the budget's share of the window's transactions
    share: float

    def raised(self, hours: float | None = None) -> int:
        """Alerts of the window, or of its last ``hours``."""
        return sum(self.alerts[-self._last(hours) :])

    def allowed(self, hours: float) -> float:
        """Alerts the budget's share allows the last ``hours``' transactions."""
        return self.share * sum(self.counts[-self._last(hours) :])

    def catch_up(self, hours: float) -> float:
        """The budget of ``hours`` of event time."""
        return self.shape.per_ms * hours * HOUR_MS

    def calibration(self) -> float:
        """Alerts aimed at over those raised, in buckets judged by a budget threshold."""
        meant = sum(self.aimed)
        judged = sum(a for a, e in zip(self.alerts, self.aimed, strict=True) if e > 0)
        return meant / max(judged, 1) if meant >= 4 * MIN_RANK else 1.0

    def _last(self, hours: float | None) -> int:
        if hours is None:
            return len(self.counts)
        return min(len(self.counts), round(hours * HOUR_MS / self.shape.bucket_ms))


Correction = Callable[[Window], float]


def bounded(fix: float, low: float = CORRECTION[0], high: float = CORRECTION[1]) -> float:
    return min(high, max(low, fix))


def calibrated_debt(window: Window) -> float:
    """The script's correction: calibration times the window's debt over half the window."""
    debt = window.wanted - window.raised()
    hours = window.shape.catch_up_ms / HOUR_MS
    return bounded(window.calibration() * (1 + debt / window.catch_up(hours)))


def threshold(
    shape: BudgetShape,
    now: int,
    counts: Mapping[int, int],
    alerts: Mapping[int, int],
    aimed: Mapping[int, float],
    kept: Mapping[int, Sequence[float]],
    correction: Correction = calibrated_debt,
) -> tuple[float, float] | None:
    """(threshold, aim) of a model on a shard at event time ``now``, None when the fixed
    threshold applies. Per bucket: ``counts`` the counted transactions, ``alerts`` the
    model's, ``aimed`` the alerts its thresholds aimed at, ``kept`` its top scores."""
    bms, n = shape.bucket_ms, shape.buckets
    numbers = list(range(now // bms - n + 1, now // bms + 1))
    per_bucket = [counts.get(b, 0) for b in numbers]
    busy = [i for i, c in enumerate(per_bucket) if c]
    if not busy or busy[0] == n - 1:
        return None
    first = busy[0]
    covered = (n - 1 - first) * bms + now % bms + 1
    wanted = shape.per_ms * covered
    share = wanted / sum(per_bucket)
    span = shape.short_buckets
    while True:
        seen = sum(per_bucket[n - span :])
        rank = share * seen
        if rank >= MIN_RANK or span >= n - first:
            break
        span = min(span * 2, n - first)
    fix = 1.0
    if wanted >= 4 * MIN_RANK:
        inside = numbers[first:]
        window = Window(
            shape,
            per_bucket[first:],
            [alerts.get(b, 0) for b in inside],
            [aimed.get(b, 0.0) for b in inside],
            wanted,
            share,
        )
        fix = correction(window)
    r = max(1, math.floor(rank * fix + 0.5))
    top = sorted((s for b in numbers[n - span :] for s in kept.get(b, ())), reverse=True)
    if len(top) < r:
        return None
    if r < len(top) and top[r] == top[r - 1]:  # a tie: the lowest score above it
        r = top.index(top[r - 1])
        if r == 0:
            return None
    return top[r - 1], r / seen


def expected_threshold(
    shape: BudgetShape,
    now: int,
    rows: Sequence[Row],
    counted: Sequence[int],
    aimed: Mapping[int, float] | None = None,
) -> tuple[float, float] | None:
    """:func:`threshold` from a model's ``rows``, the event ms of every ``counted``
    transaction and the alerts its thresholds ``aimed`` at per bucket."""
    bms = shape.bucket_ms
    counts: dict[int, int] = {}
    for t in counted:
        counts[t // bms] = counts.get(t // bms, 0) + 1
    alerts: dict[int, int] = {}
    kept: dict[int, list[float]] = {}
    for score, t, alerted in rows:
        alerts[t // bms] = alerts.get(t // bms, 0) + alerted
        kept.setdefault(t // bms, []).append(score)
    top = {b: sorted(s, reverse=True)[: shape.capacity] for b, s in kept.items()}
    return threshold(shape, now, counts, alerts, aimed or {}, top)
