"""The challenger: a supervised model learnt from verdicts, on top of the unsupervised champion.

Gradient-boosted trees on the per-card features plus the champion's score as one more input,
trained on the verdicts given so far and on the transactions whose chargeback window has closed.

Why (docs/decisions/0006-challenger-from-verdicts.md): only alerted transactions get an
analyst's verdict, so unverdicted rows count as genuine only once a chargeback could have come.

>>> import numpy as np
>>> from sklearn.ensemble import IsolationForest
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(400, 3)); y = (X[:, 0] > 1.5).astype(int)
>>> champion = IsolationForest(n_estimators=10, random_state=0).fit(X)
>>> model = ChallengerModel(champion=champion, max_iter=20).fit(X, y)
>>> model.predict_proba(X[:2]).shape
(2, 2)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from rtad.common.labels import Label

#: Chargebacks come back about a week after the fraud (the Handbook's feedback delay).
CHARGEBACK_DELAY = timedelta(days=7)
#: Implicit genuine rows kept for a fit (the verdicts are always kept): bounds the fit time.
MAX_IMPLICIT = 60_000


class ChallengerModel(ClassifierMixin, BaseEstimator):
    """Histogram gradient boosting on ``[X, champion score]`` (on ``X`` alone without a
    champion); ``predict_proba`` like any binary classifier, so the model store scores it
    with ``score_method="proba"``.

    The learning rate (0.2) keeps the ensemble small: it scores every transaction in the
    scorer's shadow, at a cost that grows with its trees (decision 0006).
    """

    def __init__(
        self,
        champion: Any = None,
        champion_method: str = "neg_score_samples",
        max_iter: int = 200,
        learning_rate: float = 0.2,
        max_leaf_nodes: int = 31,
        l2_regularization: float = 1.0,
        random_state: int = 0,
    ) -> None:
        self.champion = champion
        self.champion_method = champion_method
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.l2_regularization = l2_regularization
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _with_champion(self, X: np.ndarray) -> np.ndarray:
        from rtad.ml.model_store import suspicion

        if self.champion is None:
            return X
        return np.column_stack([X, suspicion(self.champion, self.champion_method, X)])

    def fit(self, X: Any, y: Any, sample_weight: np.ndarray | None = None) -> ChallengerModel:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.utils.multiclass import check_classification_targets, type_of_target

        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError("the verdicts hold 1 class: need both frauds and genuine ones")
        kind = type_of_target(y, input_name="y", raise_unknown=True)
        if kind != "binary":
            raise ValueError(f"Only binary classification is supported (fraud or genuine): {kind}")
        self.classifier_ = HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            l2_regularization=self.l2_regularization,
            random_state=self.random_state,
        ).fit(self._with_champion(X), y, sample_weight=sample_weight)
        self.n_iter_ = self.classifier_.n_iter_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return np.asarray(self.classifier_.predict_proba(self._with_champion(X)))

    def predict_proba_beside(self, X: np.ndarray, champion_score: np.ndarray) -> np.ndarray:
        """:meth:`predict_proba` with the champion's score of the same rows given: where the
        champion already scored them (the scorer's shadow), it is not scored twice.
        ``champion_score`` must come from the champion this model was fitted with."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        if self.champion is None:
            return np.asarray(self.classifier_.predict_proba(X))
        inputs = np.column_stack([X, np.asarray(champion_score, dtype=np.float64)])
        return np.asarray(self.classifier_.predict_proba(inputs))

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return np.asarray(self.classes_[proba.argmax(axis=1)])


def training_targets(
    frame: pd.DataFrame,
    labels: dict[str, Label],
    as_of: datetime,
    chargeback_delay: timedelta = CHARGEBACK_DELAY,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, y, explicit)``: which rows of ``frame`` (``transaction_id``, ``event_time``)
    to train on as of ``as_of``, their targets, and which of them have a verdict.

    A verdict given by ``as_of`` counts as given; a row with none counts as genuine once its
    chargeback window has closed; a recent row with none is left out.
    """
    stamp = pd.Timestamp(as_of)
    known = {t: lab for t, lab in labels.items() if lab.given_at is None or lab.given_at <= as_of}
    ids = frame["transaction_id"].to_numpy(dtype=object)
    verdict = pd.Series(ids).map({t: int(lab.is_fraud) for t, lab in known.items()})
    has_verdict = verdict.notna().to_numpy()
    times = frame["event_time"]
    past = (times < stamp).to_numpy()
    settled = (times <= stamp - pd.Timedelta(chargeback_delay)).to_numpy()
    rows = np.flatnonzero(past & (has_verdict | settled))
    y = verdict.fillna(0).to_numpy(dtype=np.int64)[rows]
    return rows, y, has_verdict[rows]


def balanced_sample(
    rows: np.ndarray, y: np.ndarray, explicit: np.ndarray, seed: int, limit: int = MAX_IMPLICIT
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep every row with a verdict (``explicit``) and at most ``limit`` implicit genuine
    rows, weighted up so they still stand for all of them; ``(rows, y, weights)``."""
    implicit = np.flatnonzero(~explicit)
    weights = np.ones(len(rows))
    keep = np.ones(len(rows), dtype=bool)
    if len(implicit) > limit:
        drop = np.random.default_rng(seed).choice(implicit, len(implicit) - limit, replace=False)
        keep[drop] = False
        weights[implicit] = len(implicit) / limit
    return rows[keep], y[keep], weights[keep]


def fit_challenger(
    X: np.ndarray,
    frame: pd.DataFrame,
    labels: dict[str, Label],
    as_of: datetime,
    champion: Any,
    champion_method: str,
    chargeback_delay: timedelta = CHARGEBACK_DELAY,
    seed: int = 0,
    **params: Any,
) -> tuple[ChallengerModel, dict[str, int]]:
    """Fit a challenger on the rows the verdicts and settled history label as of ``as_of``
    (``params``: more of :class:`ChallengerModel`'s parameters, e.g. ``learning_rate``).

    Returns the model and the counts of its training rows (by kind of target).
    """
    rows, y, explicit = training_targets(frame, labels, as_of, chargeback_delay)
    rows, y, weights = balanced_sample(rows, y, explicit, seed)
    model = ChallengerModel(
        champion=champion, champion_method=champion_method, random_state=seed, **params
    )
    model.fit(X[rows], y, sample_weight=weights)
    counts = {
        "training_rows": int(len(rows)),
        "verdict_rows": int(explicit.sum()),
        "fraud_rows": int(y.sum()),
    }
    return model, counts
