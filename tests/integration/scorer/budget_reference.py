"""The alert budget's threshold recomputed in Python, to check the Redis script against."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from rtad.scorer.alert_budget import MIN_RANK, BudgetShape
from rtad.scorer.alert_budget_script import CORRECTION

Row = tuple[float, int, bool]  # a model's (score, event ms, alerted) of one transaction


def expected_threshold(
    shape: BudgetShape,
    now: int,
    rows: Sequence[Row],
    counted: Sequence[int],
    aimed: Mapping[int, float] | None = None,
) -> tuple[float, float] | None:
    """(threshold, aim) of a model on a shard at event time ``now``, None when the fixed
    threshold applies. ``rows`` are the model's, ``counted`` the event ms of every counted
    transaction, ``aimed`` the alerts its thresholds aimed at per bucket."""
    aimed = aimed or {}
    bms, n = shape.bucket_ms, shape.buckets
    numbers = list(range(now // bms - n + 1, now // bms + 1))
    counts = [sum(1 for t in counted if t // bms == b) for b in numbers]
    busy = [i for i, c in enumerate(counts) if c]
    if not busy or busy[0] == n - 1:
        return None
    first = busy[0]
    covered = (n - 1 - first) * bms + now % bms + 1
    wanted = shape.per_ms * covered
    share = wanted / sum(counts)
    span = shape.short_buckets
    while True:
        seen = sum(counts[n - span :])
        rank = share * seen
        if rank >= MIN_RANK or span >= n - first:
            break
        span = min(span * 2, n - first)
    window = set(numbers[first:])
    alerts = [t // bms for _s, t, a in rows if a and t // bms in window]
    meant = sum(v for b, v in aimed.items() if b in window)
    judged = sum(1 for b in alerts if aimed.get(b, 0) > 0)
    fix = 1.0
    if wanted >= 4 * MIN_RANK:
        calibration = meant / max(judged, 1) if meant >= 4 * MIN_RANK else 1.0
        fix = calibration * (1 + (wanted - len(alerts)) / (shape.per_ms * shape.catch_up_ms))
        fix = min(CORRECTION[1], max(CORRECTION[0], fix))
    r = max(1, math.floor(rank * fix + 0.5))
    kept: list[float] = []
    for b in numbers[n - span :]:
        kept += sorted((sc for sc, t, _a in rows if t // bms == b), reverse=True)[: shape.capacity]
    kept.sort(reverse=True)
    if len(kept) < r:
        return None
    if r < len(kept) and kept[r] == kept[r - 1]:  # a tie: the lowest score above it
        r = kept.index(kept[r - 1])
        if r == 0:
            return None
    return kept[r - 1], r / seen
