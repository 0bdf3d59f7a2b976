"""Drift PSI and the fault-injection spec (pure)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rtad.common.errors import RtadError
from rtad.scorer.metrics import DRIFT_PSI
from rtad.scorer.worker.drift import (
    DriftMonitor,
    Reference,
    parse_reference,
    psi,
    references_from_card,
)
from rtad.scorer.worker.faults import FaultPlan


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(size=20_000)
    edges = np.quantile(train, np.linspace(0.1, 0.9, 9))
    ref = Reference(edges=edges, expected=np.full(10, 0.1))
    assert psi(ref.expected, ref.counts(rng.normal(size=5000))) < 0.02
    assert psi(ref.expected, ref.counts(rng.normal(1.0, 1.0, size=5000))) > 0.25


def test_card_references_are_parsed_and_bad_ones_skipped() -> None:
    card = {
        "drift_reference": {
            "score": {"edges": [0.5], "counts": [30, 70]},
            "features": {
                "a": {"edges": [0.0, 1.0, 2.0], "fractions": [0.5, 0.5]},  # outer bounds kept
                "b": {"edges": [1.0, 2.0, 3.0], "fractions": [1.0]},  # inconsistent: skipped
            },
        }
    }
    refs = references_from_card(card)
    assert set(refs) == {"score", "a"}
    np.testing.assert_allclose(refs["score"].expected, [0.3, 0.7])
    np.testing.assert_array_equal(refs["a"].edges, [1.0])
    assert parse_reference({"edges": []}) is None


def test_the_drift_window_rolls_and_exports_gauges() -> None:
    ref = Reference(edges=np.array([0.0]), expected=np.array([0.5, 0.5]))
    monitor = DriftMonitor({"score": ref, "f": ref}, ["f", "g"], window_rows=1000)
    balanced = np.r_[np.full(250, -1.0), np.full(250, 1.0)]
    X = np.column_stack([balanced, balanced])
    monitor.update(X, balanced)
    assert monitor.export() == {"score": pytest.approx(0.0), "f": pytest.approx(0.0)}
    shifted = np.full(500, 1.0)
    for _ in range(3):  # the balanced batch leaves the 1000-row window
        monitor.update(np.column_stack([shifted, shifted]), shifted)
    assert monitor.values()["f"] > 1.0
    monitor.export()
    assert DRIFT_PSI.labels(feature="f")._value.get() > 1.0


def test_fault_specs_parse_or_fail_with_one_line(tmp_path: Path) -> None:
    plan = FaultPlan.parse("kill_before_commit@2", tmp_path / "m")
    assert (plan.action, plan.at_batch, plan.marker) == ("kill", 2, tmp_path / "m")
    assert FaultPlan.parse("poison_value=1e30").poison_value == 1e30
    assert FaultPlan.parse("") == FaultPlan()
    with pytest.raises(RtadError, match="is not pause_before_commit"):
        FaultPlan.parse("explode")
    FaultPlan.parse("pause_before_commit@1:0").before_commit(1)  # no marker: just returns
