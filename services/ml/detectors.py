"""rtad's own detectors, following the scikit-learn contract (``fit`` returns ``self``,
fitted attributes end in ``_``, ``score_samples``: higher = more normal, like scikit-learn's
outlier detectors; ``decision_function`` = ``score_samples - offset_``).

- :class:`CardTailDetector` — the sum of per-feature tail surprises ``-log P(X_j >= x_j)``
  (ECOD-like, one-sided per feature in the suspicious direction, exponential tail beyond
  the training range), so it stays rank-based and robust to each feature's scale.
- :class:`PCAReconstruction` — distance of a row from the principal subspace.
- :class:`HalfSpaceTreesDetector` — River's online Half-Space Trees behind ``fit``/``score``.
- :class:`PyODDetector` — PyOD's ECOD / HBOS behind the same interface.

>>> import numpy as np
>>> X = np.random.default_rng(0).normal(size=(500, 3))
>>> det = CardTailDetector().fit(X)
>>> bool(det.score_samples([[5, 5, 5]])[0] < det.score_samples([[0, 0, 0]])[0])
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

TAIL_START = 0.02  # beyond this upper share, the tail is exponential (fit on its excesses)


class _Outlier(OutlierMixin, BaseEstimator):
    """``predict`` / ``decision_function`` from ``score_samples`` and ``offset_``."""

    contamination: float = 0.01

    def _set_offset(self, X: np.ndarray) -> None:
        self.offset_ = float(np.quantile(self.score_samples(X), self.contamination))

    def decision_function(self, X: Any) -> np.ndarray:
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        return np.where(self.decision_function(X) < 0, -1, 1)

    def score_samples(self, X: Any) -> np.ndarray:
        raise NotImplementedError


class CardTailDetector(_Outlier):
    """Tail surprises ``-log P(X_j >= x_j)`` per feature, averaged per aspect, summed.

    ECOD-like (rank-based, no scale to tune), but one-sided where the suspicious direction is
    known, and with features grouped into aspects (amount, journey speed, velocity,
    novelty...) so that five correlated amount features count once, like one speed feature.

    Parameters
    ----------
    directions : sequence of {-1, 0, 1, 2} or None
        Per feature: 1 = large values are suspicious, -1 = small ones, 2 = both (the larger
        surprise), 0 = ignored (context only). None = 2 for every feature.
    aspects : sequence of str or None
        Per feature: the aspect it belongs to ("" = not scored). None = each feature is its
        own aspect (the plain ECOD-like sum).
    peak_weight : float
        Weight of the strongest aspect, added to the sum: one glaring aspect (a journey at
        5,000 km/h) outranks several mildly odd ones (a holiday: new town, new shops).
    contamination : float
        Share of training rows flagged by ``predict``.
    """

    def __init__(
        self,
        directions: Any = None,
        aspects: Any = None,
        peak_weight: float = 1.0,
        contamination: float = 0.01,
    ) -> None:
        self.directions = directions
        self.aspects = aspects
        self.peak_weight = peak_weight
        self.contamination = contamination

    def fit(self, X: Any, y: Any = None) -> CardTailDetector:
        X = validate_data(self, X, dtype=np.float64)
        self._dirs(X.shape[1])  # checks the parameters early
        self._aspect_matrix(X.shape[1])
        self.levels_ = np.unique(np.r_[np.linspace(0, 1 - TAIL_START, 50), 1 - TAIL_START])
        # One grid per oriented column: +x for the upper tail, -x for the lower one.
        self.grid_up_ = np.quantile(X, self.levels_, axis=0)
        self.grid_down_ = np.quantile(-X, self.levels_, axis=0)
        self.scale_up_ = _tail_scale(X, self.grid_up_[-1])
        self.scale_down_ = _tail_scale(-X, self.grid_down_[-1])
        self._set_offset(X)
        return self

    def _dirs(self, n_features: int) -> np.ndarray:
        if self.directions is None:
            return np.full(n_features, 2)
        dirs = np.asarray(self.directions, dtype=np.int64)
        if dirs.shape != (n_features,) or not np.isin(dirs, (-1, 0, 1, 2)).all():
            raise ValueError(f"directions must be {n_features} values in -1, 0, 1, 2")
        return dirs

    def surprises(self, X: Any) -> np.ndarray:
        """Per-feature ``-log P`` of each row (0 for ignored features).

        Only the orientations a feature's direction uses are computed (the upper tail for 1,
        the lower for -1, both for 2): half the work of computing both everywhere, and the
        same numbers.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        dirs = self._dirs(X.shape[1])
        out = np.zeros_like(X)
        up = np.flatnonzero((dirs == 1) | (dirs == 2))
        down = np.flatnonzero((dirs == -1) | (dirs == 2))
        out[:, up] = _surprise(X[:, up], self.grid_up_[:, up], self.scale_up_[up], self.levels_)
        lower = _surprise(
            -X[:, down], self.grid_down_[:, down], self.scale_down_[down], self.levels_
        )
        one_sided, two_sided = dirs[down] == -1, dirs[down] == 2
        out[:, down[one_sided]] = lower[:, one_sided]
        both = down[two_sided]
        out[:, both] = np.maximum(out[:, both], lower[:, two_sided])
        return out

    def _aspect_matrix(self, n_features: int) -> np.ndarray:
        """(features x aspects) weights: 1 / aspect size for each member feature."""
        if self.aspects is None:
            return np.eye(n_features)
        labels = [str(a) for a in self.aspects]
        if len(labels) != n_features:
            raise ValueError(f"aspects must name {n_features} features, got {len(labels)}")
        names = sorted({a for a in labels if a})
        weights = np.zeros((n_features, len(names)))
        for j, label in enumerate(labels):
            if label:
                weights[j, names.index(label)] = 1.0
        return weights / np.maximum(weights.sum(axis=0), 1.0)

    def aspect_surprises(self, X: Any) -> np.ndarray:
        """Mean surprise of each aspect's features (n x aspects, aspects sorted by name)."""
        S = self.surprises(X)
        return S @ self._aspect_matrix(S.shape[1])

    def score_samples(self, X: Any) -> np.ndarray:
        A = self.aspect_surprises(X)
        peak = A.max(axis=1) if A.shape[1] else 0.0
        return -(A.sum(axis=1) + self.peak_weight * peak)


def _tail_scale(X: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Mean excess over the tail start per column (the exponential tail's MLE scale)."""
    excess = np.where(X > start, X - start, np.nan)
    with np.errstate(invalid="ignore"):
        scale = np.nanmean(np.where(np.isnan(excess).all(axis=0), 1.0, excess), axis=0)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, np.nan)
    spread = np.quantile(X, 0.75, axis=0) - np.quantile(X, 0.25, axis=0)
    fallback = np.where(spread > 0, spread, 1.0)
    return np.where(np.isnan(scale), fallback, scale)


def _surprise(X: np.ndarray, grid: np.ndarray, scale: np.ndarray, levels: Any) -> np.ndarray:
    """-log P(X >= x) per cell: empirical grid in the body, exponential beyond its end.

    In the body, P = 1 - levels[i - 1] where i is x's insertion point in its column's grid
    (P = 1 below the grid): one ``-log`` table of len(levels) + 1 values, gathered.
    """
    n, k = X.shape
    body = -np.log(np.r_[1.0, 1 - np.asarray(levels)])
    columns = np.ascontiguousarray(X.T)
    grids = np.ascontiguousarray(grid.T)
    at = np.empty((k, n), dtype=np.intp)
    for j in range(k):
        at[j] = np.searchsorted(grids[j], columns[j], side="left")
    last = grid[-1]
    tail = -np.log(TAIL_START) + (X - last) / scale
    return np.where(X > last, tail, body[at.T])


class PCAReconstruction(_Outlier):
    """Squared distance of a (robustly scaled) row from its projection on the top components."""

    def __init__(self, n_components: float = 0.9, contamination: float = 0.01) -> None:
        self.n_components = n_components
        self.contamination = contamination

    def fit(self, X: Any, y: Any = None) -> PCAReconstruction:
        from sklearn.decomposition import PCA
        from sklearn.preprocessing import RobustScaler

        X = validate_data(self, X, dtype=np.float64)
        self.scaler_ = RobustScaler(quantile_range=(5.0, 95.0)).fit(X)
        Z = self.scaler_.transform(X)
        k = self.n_components
        self.pca_ = PCA(n_components=k if X.shape[1] > 1 else None, random_state=0).fit(Z)
        self._set_offset(X)
        return self

    def score_samples(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        Z = self.scaler_.transform(X)
        back = self.pca_.inverse_transform(self.pca_.transform(Z))
        return -np.square(Z - back).sum(axis=1)


class PyODDetector(_Outlier):
    """A PyOD detector (``ECOD`` or ``HBOS``) with scikit-learn's score convention."""

    def __init__(self, kind: str = "ecod", contamination: float = 0.01) -> None:
        self.kind = kind
        self.contamination = contamination

    def fit(self, X: Any, y: Any = None) -> PyODDetector:
        X = validate_data(self, X, dtype=np.float64)
        if self.kind == "ecod":
            from pyod.models.ecod import ECOD

            self.model_ = ECOD(contamination=self.contamination)
        elif self.kind == "hbos":
            from pyod.models.hbos import HBOS

            self.model_ = HBOS(contamination=self.contamination)
        else:
            raise ValueError(f"kind must be 'ecod' or 'hbos', not {self.kind!r}")
        self.model_.fit(X)
        self._set_offset(X)
        return self

    def score_samples(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return -np.asarray(self.model_.decision_function(X), dtype=np.float64)


class HalfSpaceTreesDetector(_Outlier):
    """River's Half-Space Trees: learns row by row; ``partial_fit`` keeps learning online.

    Inputs are min-max scaled with the first fit's bounds (HST expects features in [0, 1]).
    """

    def __init__(
        self,
        n_trees: int = 25,
        height: int = 8,
        window_size: int = 250,
        seed: int = 0,
        contamination: float = 0.01,
    ) -> None:
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.seed = seed
        self.contamination = contamination

    def fit(self, X: Any, y: Any = None) -> HalfSpaceTreesDetector:
        from river.anomaly import HalfSpaceTrees

        X = validate_data(self, X, dtype=np.float64)
        self.low_ = np.quantile(X, 0.001, axis=0)
        self.high_ = np.quantile(X, 0.999, axis=0)
        # A window must fill before HST scores anything: never wider than a quarter of X.
        window = max(1, min(self.window_size, len(X) // 4))
        self.model_ = HalfSpaceTrees(
            n_trees=self.n_trees, height=self.height, window_size=window, seed=self.seed
        )
        self._learn(self._scaled(X))
        self._set_offset(X)
        return self

    def partial_fit(self, X: Any, y: Any = None) -> HalfSpaceTreesDetector:
        if not hasattr(self, "model_"):
            return self.fit(X)
        self._learn(self._scaled(validate_data(self, X, dtype=np.float64, reset=False)))
        return self

    def _scaled(self, X: np.ndarray) -> list[dict[int, float]]:
        span = np.where(self.high_ > self.low_, self.high_ - self.low_, 1.0)
        Z = np.clip((X - self.low_) / span, 0.0, 1.0)
        return [dict(enumerate(row)) for row in Z.tolist()]

    def _learn(self, rows: list[dict[int, float]]) -> None:
        for row in rows:
            self.model_.learn_one(row)

    def score_samples(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        rows = self._scaled(validate_data(self, X, dtype=np.float64, reset=False))
        return -np.array([self.model_.score_one(row) for row in rows], dtype=np.float64)


class SubsampledDetector(_Outlier):
    """Fits ``estimator`` on at most ``max_samples`` random training rows.

    For detectors whose fit or scoring grows faster than linearly (LOF's neighbour search,
    the MCD of a robust covariance): a fixed random sample keeps them usable on a day of data.
    """

    def __init__(
        self,
        estimator: Any = None,
        max_samples: int = 10_000,
        random_state: int = 0,
        contamination: float = 0.01,
    ) -> None:
        self.estimator = estimator
        self.max_samples = max_samples
        self.random_state = random_state
        self.contamination = contamination

    def fit(self, X: Any, y: Any = None) -> SubsampledDetector:
        from sklearn.base import clone
        from sklearn.ensemble import IsolationForest

        X = validate_data(self, X, dtype=np.float64)
        rows = np.random.default_rng(self.random_state).permutation(len(X))[: self.max_samples]
        base = self.estimator
        if base is None:
            base = IsolationForest(random_state=self.random_state)
        self.estimator_ = clone(base).fit(X[np.sort(rows)])
        self._set_offset(X)
        return self

    def score_samples(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return np.asarray(self.estimator_.score_samples(X), dtype=np.float64)
