"""Decision 0007's alternatives: the alert budget's controllers replayed on recorded scores.

The scores of a model do not depend on its threshold, so each controller is replayed in
Python (:mod:`tests.benchmarks.budget_reference`, the Redis script's reference) on the scores
the budget benchmark recorded: per shard, batches of ``BATCH`` rows in event-time order, each
judged by the threshold read after the commit ``lag`` batches back (the scorer reads the
threshold back after its commits, so a live batch sees one at least a batch old). Beside it, a
synthetic stream where frauds come as bursts of one card within seconds.
"""

from __future__ import annotations

import math
from collections import defaultdict
from functools import partial
from typing import Any

import numpy as np

from rtad.scorer.alert_budget import BudgetShape
from tests.benchmarks.budget_reference import (
    HOUR_MS,
    Correction,
    Window,
    bounded,
    calibrated_debt,
    threshold,
)

#: rows a shard's batch reads (the benchmark's worker too): a batch spans minutes of event
#: time, as live batches (under a second) do, not hours (the threshold changes between batches)
BATCH = 16
#: batches between a commit and the batch its threshold judges first
LAGS = (1, 2, 8)
#: the lag of the days and recall columns
LAG = 2
TOLERANCE = 0.2


def window_ratio(window: Window) -> float:
    """The budget over the window's alerts, within ×0.5 and ×2 (a proportional term)."""
    return bounded(window.wanted / max(window.raised(), 1), 0.5, 2.0)


def window_and_recent_ratio(window: Window, hours: float) -> float:
    """The window's ratio times the same ratio over the last ``hours``."""
    recent = (window.allowed(hours) + 1) / (window.raised(hours) + 1)
    return window_ratio(window) * bounded(recent, 0.5, 2.0)


def recent_debt(window: Window, hours: float, catch_up: float) -> float:
    """The debt of the last ``hours``, made up over ``catch_up`` hours."""
    debt = window.allowed(hours) - window.raised(hours)
    return bounded(1 + debt / window.catch_up(catch_up))


def window_debt(window: Window, catch_up: float) -> float:
    """The window's debt, made up over ``catch_up`` hours."""
    return bounded(1 + (window.wanted - window.raised()) / window.catch_up(catch_up))


def calibration(window: Window) -> float:
    """Alerts aimed at over alerts raised, with no debt term."""
    return bounded(window.calibration())


def calibrated_debt_over(window: Window, catch_up: float) -> float:
    """The decision's correction with another catch-up time."""
    debt = window.wanted - window.raised()
    return bounded(window.calibration() * (1 + debt / window.catch_up(catch_up)))


#: label → correction of the rank, in the order the table shows them
CONTROLLERS: dict[str, Correction] = {
    "quantile, the window's ratio ×0.5–2": window_ratio,
    "the same and the last 4 h's ratio": partial(window_and_recent_ratio, hours=4),
    "debt of the last 6 h, made up over 2 h": partial(recent_debt, hours=6, catch_up=2),
    "debt of the window, made up over 12 h": partial(window_debt, catch_up=12),
    "calibration alone": calibration,
    "calibration and debt over 12 h (the decision)": calibrated_debt,
    "calibration and debt over 8 h": partial(calibrated_debt_over, catch_up=8),
    "calibration and debt over 24 h": partial(calibrated_debt_over, catch_up=24),
    "calibration and debt over 48 h": partial(calibrated_debt_over, catch_up=48),
}


def replay(
    times: np.ndarray,
    scores: np.ndarray,
    shards: np.ndarray,
    shape: BudgetShape,
    correction: Correction,
    fixed: float,
    lag: int,
) -> np.ndarray:
    """Which rows (sorted by event time) the controller alerts on."""
    alerted = np.zeros(len(times), dtype=bool)
    bms = shape.bucket_ms
    for shard in range(shape.shards):
        rows = np.flatnonzero(shards == shard)
        counts: dict[int, int] = defaultdict(int)
        alerts: dict[int, int] = defaultdict(int)
        aimed: dict[int, float] = defaultdict(float)
        kept: dict[int, list[float]] = defaultdict(list)
        read: list[tuple[float, float] | None] = []  # the threshold after each commit
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            current = read[-lag] if len(read) >= lag else None
            alerted[batch] = scores[batch] >= (fixed if current is None else current[0])
            for i in batch.tolist():
                b = int(times[i]) // bms
                counts[b] += 1
                alerts[b] += int(alerted[i])
                aimed[b] += 0.0 if current is None else current[1]
                kept[b] = sorted([*kept[b], float(scores[i])], reverse=True)[: shape.capacity]
            now = int(times[batch].max())
            read.append(threshold(shape, now, counts, alerts, aimed, kept, correction))
    return alerted


def deviations(
    times: np.ndarray, alerted: np.ndarray, start: int, days: int, per_hour: float
) -> dict[str, Any]:
    """Alerts per hour against the budget over each span after the warm-up day, and per day."""
    half = start + days * 12 * HOUR_MS
    out: dict[str, Any] = {}
    for name, lo, hi in (
        ("low_fraud_half", start + 24 * HOUR_MS, half),
        ("high_fraud_half", half, start + days * 24 * HOUR_MS),
        ("after_warm_up", start + 24 * HOUR_MS, start + days * 24 * HOUR_MS),
    ):
        inside = alerted[(times >= lo) & (times < hi)].sum()
        out[name] = inside / ((hi - lo) / HOUR_MS) / per_hour - 1
    day_starts = range(start + 24 * HOUR_MS, start + days * 24 * HOUR_MS, 24 * HOUR_MS)
    out["by_day"] = [
        alerted[(times >= d) & (times < d + 24 * HOUR_MS)].sum() / 24 / per_hour - 1
        for d in day_starts
    ]
    return out


def synthetic(seed: int, burst: int, bursts_per_hour: float) -> tuple[np.ndarray, np.ndarray]:
    """Five days of 120 transactions an hour scoring N(0, 1); bursts of ``burst`` frauds of one
    card a second apart scoring N(3.5, 0.5), 0.2 bursts an hour for two days, then
    ``bursts_per_hour``. (event ms from 0, scores), sorted by time."""
    rng = np.random.default_rng(seed)
    times, scores = [], []
    for quarter in range(5 * 96):
        begin = quarter * 900_000
        n = rng.poisson(30)
        times.append(begin + rng.integers(0, 900_000, n))
        scores.append(rng.normal(0, 1, n))
        rate = 0.2 if quarter < 2 * 96 else bursts_per_hour
        for _ in range(rng.poisson(rate / 4)):
            at = begin + int(rng.integers(0, 900_000 - burst * 1000))
            times.append(at + 1000 * np.arange(burst))
            scores.append(rng.normal(3.5, 0.5, burst))
    t, s = np.concatenate(times), np.concatenate(scores)
    order = np.argsort(t, kind="stable")
    return t[order], s[order]


#: the synthetic streams: (burst size, bursts an hour from day 3), eight seeds each
SYNTHETIC = ((8, 1.0), (12, 0.75))
SYNTHETIC_SEEDS = 8
SYNTHETIC_BUDGET = 4.0


def synthetic_high_half(correction: Correction) -> list[float]:
    """The deviation from the budget over the last three days of each synthetic stream."""
    shape = BudgetShape(SYNTHETIC_BUDGET, 1, 86_400)
    out = []
    for burst, rate in SYNTHETIC:
        for seed in range(SYNTHETIC_SEEDS):
            t, s = synthetic(seed, burst, rate)
            alerted = replay(t, s, np.zeros(len(t), dtype=int), shape, correction, math.inf, 1)
            out.append(float(alerted[t >= 48 * HOUR_MS].sum() / 72 / SYNTHETIC_BUDGET - 1))
    return out


#: a recorded run: (event ms, scores, shards, frauds, the model's fixed threshold)
Run = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]
Recorded = dict[float, Run]


def compare(
    recorded: Recorded, shards: int, window_s: int, start: int, days: int
) -> dict[str, Any]:
    """Every controller on the recorded runs. ``recorded``: per budget (event ms, scores,
    shards, frauds, fixed threshold), sorted by event time."""
    out: dict[str, Any] = {}
    for label, correction in CONTROLLERS.items():
        worst, days_in, days_all, caught, frauds = 0.0, 0, 0, {}, {}
        for budget, (t, s, shard, fraud, fixed) in recorded.items():
            shape = BudgetShape(budget, shards, window_s)
            for lag in LAGS:
                alerted = replay(t, s, shard, shape, correction, fixed, lag)
                spans = deviations(t, alerted, start, days, budget)
                worst = max(worst, *(abs(v) for k, v in spans.items() if k != "by_day"))
                if lag == LAG:
                    days_in += sum(int(abs(d) <= TOLERANCE) for d in spans["by_day"])
                    days_all += len(spans["by_day"])
                    late = t >= start + 24 * HOUR_MS
                    caught[f"{budget:g}"] = int((alerted & fraud & late).sum())
                    frauds[f"{budget:g}"] = int((fraud & late).sum())
        synth = synthetic_high_half(correction)
        out[label] = {
            "worst_span_deviation": worst,
            "days_within_tolerance": days_in,
            "days": days_all,
            "frauds_alerted_after_warm_up": caught,
            "frauds_after_warm_up": frauds,
            "synthetic_high_half_mean": float(np.mean(synth)),
            "synthetic_high_half_max": float(np.max(synth)),
        }
    return out


PARAMETERS: dict[str, Any] = {
    "replay_lags": list(LAGS),
    "replay_lag_of_days_and_recall": LAG,
    "synthetic_bursts": [list(b) for b in SYNTHETIC],
    "synthetic_seeds": SYNTHETIC_SEEDS,
    "synthetic_budget_per_hour": SYNTHETIC_BUDGET,
}
