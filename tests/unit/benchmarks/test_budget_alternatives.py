"""The replay of decision 0007's controllers on a synthetic stream of fraud bursts."""

from __future__ import annotations

import math

import numpy as np

from rtad.scorer.alert_budget import BudgetShape
from tests.benchmarks.budget_alternatives import CONTROLLERS, HOUR_MS, replay, synthetic
from tests.benchmarks.budget_reference import Correction, calibrated_debt


def high_half(correction: Correction) -> float:
    """The deviation from a budget of 4 an hour over the stream's last three days."""
    t, s = synthetic(seed=0, burst=8, bursts_per_hour=1.0)
    shape = BudgetShape(4.0, 1, 86_400)
    alerted = replay(t, s, np.zeros(len(t), dtype=int), shape, correction, math.inf, 1)
    return float(alerted[t >= 48 * HOUR_MS].sum() / 72 / 4 - 1)


def test_the_decision_holds_the_budget_where_the_window_ratio_over_alerts() -> None:
    assert abs(high_half(calibrated_debt)) < 0.2
    assert high_half(CONTROLLERS["quantile, the window's ratio ×0.5–2"]) > 0.2


def test_the_table_lists_the_decision_with_the_scripts_own_correction() -> None:
    assert CONTROLLERS["calibration and debt over 12 h (the decision)"] is calibrated_debt
