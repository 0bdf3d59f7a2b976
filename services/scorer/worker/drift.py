"""Drift: population stability index of scores and main features against the training data.

The model card keeps, for the score and the main features, the bins of the training
distribution (inner edges and the share of training rows per bin). The worker adds every
batch's bin counts to a rolling window of the last ``window_rows`` scored rows; the PSI of
each name is exported as ``rtad_scorer_drift_psi{feature}`` (``feature="score"`` for the
score). Rules of thumb: < 0.1 stable, 0.1–0.25 drifting, > 0.25 shifted.

>>> ref = Reference(edges=np.array([0.0]), expected=np.array([0.5, 0.5]))
>>> round(psi(ref.expected, np.array([50, 50])), 6)
0.0
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rtad.scorer.metrics import DRIFT_PSI

log = logging.getLogger(__name__)

SCORE = "score"
_EPS = 1e-4  # floor of a bin's share: an empty bin must not make the PSI infinite


@dataclass(frozen=True)
class Reference:
    """Training distribution of one name: inner bin edges (k-1) and shares of the k bins."""

    edges: np.ndarray
    expected: np.ndarray

    def counts(self, values: np.ndarray) -> np.ndarray:
        index = np.searchsorted(self.edges, values, side="right")
        return np.bincount(index, minlength=len(self.expected)).astype(np.int64)


def psi(expected: np.ndarray, actual_counts: np.ndarray) -> float:
    """Population stability index of observed counts against expected shares."""
    total = actual_counts.sum()
    if total <= 0:
        return 0.0
    actual = np.maximum(actual_counts / total, _EPS)
    base = np.maximum(np.asarray(expected, dtype=np.float64), _EPS)
    return float(np.sum((actual - base) * np.log(actual / base)))


def parse_reference(spec: Mapping[str, Any]) -> Reference | None:
    """A :class:`Reference` from a card entry ``{"edges": [...], "fractions": [...]}``.

    ``counts`` or ``proportions`` are accepted for the shares; edges may include the outer
    bounds (k+1 values for k shares), which are dropped. None if the entry is unusable.
    """
    edges = np.asarray(spec.get("edges", []), dtype=np.float64)
    shares = next((spec[k] for k in ("fractions", "proportions", "counts") if k in spec), None)
    if shares is None or len(edges) == 0:
        return None
    expected = np.asarray(shares, dtype=np.float64)
    if len(edges) == len(expected) + 1:
        edges = edges[1:-1]
    if len(edges) != len(expected) - 1 or expected.sum() <= 0 or not np.isfinite(edges).all():
        return None
    return Reference(edges=edges, expected=expected / expected.sum())


def references_from_card(card: Mapping[str, Any]) -> dict[str, Reference]:
    """Every usable reference of the card's ``reference`` section (score + features)."""
    section = card.get("reference") or card.get("drift_reference") or {}
    found: dict[str, Reference] = {}
    candidates: dict[str, Any] = dict(section.get("features", {}))
    if SCORE in section:
        candidates[SCORE] = section[SCORE]
    for name, spec in candidates.items():
        ref = parse_reference(spec) if isinstance(spec, Mapping) else None
        if ref is not None:
            found[name] = ref
    return found


class DriftMonitor:
    """Rolling bin counts of the scored rows, per name, and their PSI."""

    def __init__(
        self,
        references: Mapping[str, Reference],
        feature_names: Sequence[str],
        window_rows: int,
    ) -> None:
        self.references = dict(references)
        self.columns = {n: feature_names.index(n) for n in self.references if n in feature_names}
        self.window_rows = window_rows
        self._batches: deque[tuple[int, dict[str, np.ndarray]]] = deque()
        self._totals = {n: np.zeros(len(r.expected), np.int64) for n, r in self.references.items()}
        self._rows = 0
        self._lock = threading.Lock()
        DRIFT_PSI.clear()

    @classmethod
    def for_model(cls, card: Mapping[str, Any], feature_names: Sequence[str], window_rows: int):
        """The monitor of a model; one without references (no gauges) if its card has none."""
        refs = references_from_card(card)
        if not refs:
            log.info("model card has no training reference: drift PSI not exported")
        return cls(refs, list(feature_names), window_rows)

    def update(self, X: np.ndarray, scores: np.ndarray) -> None:
        """Add one batch (model-ordered feature matrix and its scores) to the window."""
        if not self.references or len(scores) == 0:
            return
        counts: dict[str, np.ndarray] = {}
        for name, column in self.columns.items():
            counts[name] = self.references[name].counts(X[:, column])
        if SCORE in self.references:
            counts[SCORE] = self.references[SCORE].counts(scores)
        with self._lock:
            self._batches.append((len(scores), counts))
            self._rows += len(scores)
            for name, c in counts.items():
                self._totals[name] += c
            while self._batches and self._rows - self._batches[0][0] >= self.window_rows:
                n, old = self._batches.popleft()
                self._rows -= n
                for name, c in old.items():
                    self._totals[name] -= c

    def values(self) -> dict[str, float]:
        with self._lock:
            return {n: psi(self.references[n].expected, c) for n, c in self._totals.items()}

    def export(self) -> dict[str, float]:
        """Set the gauges from the current window; returns the values."""
        values = self.values() if self._rows else {}
        for name, value in values.items():
            DRIFT_PSI.labels(feature=name).set(value)
        return values
