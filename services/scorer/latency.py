"""Fixed latency bins shared by the Prometheus histogram and the live page's time series.

A whole batch is counted with one ``np.searchsorted`` rather than one histogram ``observe``
a row, whose Python call per row would weigh at the worker's rates.

>>> counts = bin_counts(np.array([0.003, 0.04, 0.04, 2.0]))
>>> int(counts.sum()), quantile(counts, 0.5) <= 0.05
(4, True)
"""

from __future__ import annotations

import numpy as np

#: Upper bounds (seconds) of the end-to-end latency bins; a last bin holds everything above.
LATENCY_EDGES_S: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
)
_EDGES = np.asarray(LATENCY_EDGES_S)
N_BINS = len(LATENCY_EDGES_S) + 1


def bin_counts(latencies_s: np.ndarray) -> np.ndarray:
    """Counts per bin (``le`` semantics: a value equal to an edge falls in that edge's bin)."""
    index = np.searchsorted(_EDGES, latencies_s, side="left")
    return np.bincount(index, minlength=N_BINS).astype(np.int64)


def quantile(counts: np.ndarray | list[int], q: float) -> float | None:
    """The ``q`` quantile (seconds) of binned values, linear inside a bin; None when empty.

    Values above the last edge are reported as the last edge (the histogram cannot say more).
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return None
    rank = q * total
    cumulative = np.cumsum(counts)
    i = int(np.searchsorted(cumulative, rank, side="left"))
    if i >= len(LATENCY_EDGES_S):
        return LATENCY_EDGES_S[-1]
    lower = LATENCY_EDGES_S[i - 1] if i > 0 else 0.0
    upper = LATENCY_EDGES_S[i]
    before = cumulative[i - 1] if i > 0 else 0.0
    inside = counts[i]
    fraction = (rank - before) / inside if inside else 1.0
    return float(lower + (upper - lower) * min(max(fraction, 0.0), 1.0))
