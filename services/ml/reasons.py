"""Reason codes: why a transaction looks suspicious, in words and numbers.

Each code watches one feature (:data:`rtad.features.table.REASONS`, from the table of
features). Its strength on a row is how rare the row's value is among the training rows
(``-log P(X >= x)``, from an upper-quantile grid kept in the model card), so reasons compare
like with like across features. A row gets its strongest code, then the
next ones that are rare enough (P <= :data:`RARE`), up to ``top_k``.

>>> import numpy as np
>>> names = ["amount_ratio_log", "count_10m"]
>>> train = np.column_stack([np.random.default_rng(0).normal(0, .5, 1000), np.ones(1000)])
>>> explainer = ReasonExplainer(names, reference_grid(train, names))
>>> explainer.explain(np.array([[np.log(8.3), 5.0]]), top_k=2)[0][0]["text"]
"amount 8.3x this card's median"
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rtad.features.table import REASONS

RARE = 0.2
#: Upper-tail levels of the quantile grid (dense in the far tail, where reasons live).
LEVELS = np.r_[0.0, 0.25, 0.5, 1 - np.geomspace(0.3, 2e-4, 29)]

__all__ = ["CODES", "LEVELS", "RARE", "REASONS", "ReasonExplainer", "reference_grid"]

CODES: tuple[str, ...] = tuple(r.code for r in REASONS)


def reference_grid(X: np.ndarray, names: Sequence[str]) -> dict[str, list[float]]:
    """Upper-quantile grid (at :data:`LEVELS`) of every watched feature, for the model card."""
    watched = {r.feature for r in REASONS}
    grid = np.quantile(X, LEVELS, axis=0, method="inverted_cdf")
    return {n: grid[:, j].tolist() for j, n in enumerate(names) if n in watched}


class ReasonExplainer:
    """Turns feature rows into reason lists, given the training quantile grid."""

    def __init__(self, feature_names: Sequence[str], grid: dict[str, list[float]]) -> None:
        self.feature_names = list(feature_names)
        column = {n: j for j, n in enumerate(self.feature_names)}
        self.reasons = [
            r
            for r in REASONS
            if r.feature in grid and all(n in column for n in (r.feature, *r.needs))
        ]
        self._grid = [np.asarray(grid[r.feature]) for r in self.reasons]
        self._columns = [column[r.feature] for r in self.reasons]
        self._column = column

    @classmethod
    def from_card(cls, card: dict[str, Any]) -> ReasonExplainer:
        return cls(card["feature_names"], card.get("reason_reference", {}))

    def rarity(self, X: np.ndarray) -> np.ndarray:
        """P(X >= x) under the training rows, per row and reason (n x reasons)."""
        out = np.ones((len(X), len(self.reasons)))
        for k, (grid, j) in enumerate(zip(self._grid, self._columns, strict=True)):
            below = np.searchsorted(grid, X[:, j], side="left") - 1  # largest level with q < x
            out[:, k] = np.where(below >= 0, 1 - LEVELS[np.maximum(below, 0)], 1.0)
        return np.maximum(out, 1e-6)

    def explain(self, X: np.ndarray, top_k: int = 3) -> list[list[dict[str, str]]]:
        """``top_k`` reasons per row, strongest first (always at least one when any exists)."""
        if not self.reasons:
            return [[] for _ in range(len(X))]
        p = self.rarity(X)
        order = np.argsort(p, axis=1, kind="stable")[:, :top_k]
        keep = np.take_along_axis(p, order, axis=1) <= RARE
        keep[:, 0] = True
        names = self.feature_names
        out: list[list[dict[str, str]]] = []
        for row, picks, kept in zip(X.tolist(), order.tolist(), keep.tolist(), strict=True):
            values = dict(zip(names, row, strict=True))
            chosen = [self.reasons[k] for k, ok in zip(picks, kept, strict=True) if ok]
            out.append([{"code": r.code, "text": r.text(values)} for r in chosen])
        return out
