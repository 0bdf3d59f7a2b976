"""Latency bins and the quantiles read from them (pure)."""

from __future__ import annotations

import numpy as np

from rtad.scorer.latency import LATENCY_EDGES_S, bin_counts, quantile


def test_latency_quantiles_come_from_the_bins() -> None:
    values = np.r_[np.full(98, 0.04), 2.0, 2.0]
    counts = bin_counts(values)
    assert counts.sum() == 100 and counts[LATENCY_EDGES_S.index(0.05)] == 98
    assert 0.025 < quantile(counts, 0.5) <= 0.05
    assert 1.0 < quantile(counts, 0.99) <= 2.5
    assert quantile(np.zeros(len(counts)), 0.5) is None
    assert quantile(bin_counts(np.array([1000.0])), 0.99) == LATENCY_EDGES_S[-1]
