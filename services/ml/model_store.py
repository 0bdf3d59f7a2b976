"""The model artifact: a skops file of the fitted detector plus ``model_card.json``.

An artifact is a directory::

    model.skops        the fitted estimator (skops: no pickle, no code run on load)
    model_card.json    what the model is: detector, features in order, threshold, metrics,
                       training window and data hash, library versions, drift reference,
                       and the SHA-256 of model.skops

:func:`load_model` refuses, with one line (:class:`ModelLoadError`), a missing or foreign
directory, a card that does not describe ``model.skops`` (tampered: the hash differs), and
a skops file holding any type outside :data:`TRUSTED_TYPES`.

>>> import tempfile, numpy as np
>>> from sklearn.ensemble import IsolationForest
>>> X = np.random.default_rng(0).normal(size=(50, 2))
>>> d = tempfile.mkdtemp()
>>> _ = save_model(d, IsolationForest(n_estimators=5, random_state=0).fit(X),
...     {"detector": "isolation_forest", "score_method": "neg_score_samples",
...      "feature_names": ["a", "b"], "threshold": 0.6})
>>> load_model(d).score(X[:2]).shape
(2,)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rtad.common.errors import RtadError

ARTIFACT_FORMAT = "rtad-model"
FORMAT_VERSION = 1
MODEL_FILE = "model.skops"
CARD_FILE = "model_card.json"
SCORE_METHODS = ("neg_score_samples", "decision_function", "proba", "score_samples")

#: Every type a rtad artifact may hold beyond skops' defaults. Anything else is refused.
TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        "rtad.ml.detectors.CardTailDetector",
        "rtad.ml.detectors.PCAReconstruction",
        "rtad.ml.detectors.PyODDetector",
        "rtad.ml.detectors.SubsampledDetector",
        "rtad.ml.feedback.ChallengerModel",
        "sklearn.ensemble._iforest.IsolationForest",
        "sklearn.tree._classes.ExtraTreeRegressor",
        "sklearn.tree._tree.Tree",
        "sklearn.neighbors._lof.LocalOutlierFactor",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.linear_model._sgd_fast.Hinge",
        "sklearn.linear_model._sgd_fast.SquaredHinge",
        "sklearn.linear_model._stochastic_gradient.SGDOneClassSVM",
        "sklearn.kernel_approximation.Nystroem",
        "sklearn.covariance._elliptic_envelope.EllipticEnvelope",
        "sklearn.decomposition._pca.PCA",
        "sklearn.preprocessing._data.QuantileTransformer",
        "sklearn.preprocessing._data.RobustScaler",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.Interval",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.pipeline.Pipeline",
        "sklearn.utils._bunch.Bunch",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "pyod.models.ecod.ECOD",
        "pyod.models.hbos.HBOS",
        "numpy.dtype",
        "numpy.float64",
        "numpy.int64",
        "builtins.slice",
    }
)


class ModelLoadError(RtadError):
    """The artifact is missing, foreign or tampered with; ``str()`` says which, in one line."""


@dataclass
class LoadedModel:
    """A loaded artifact: the fitted estimator and its card.

    ``score`` is higher for more suspicious rows; ``reasons`` explains each row with the
    card's reason reference (see :mod:`rtad.ml.reasons`).
    """

    card: dict[str, Any]
    estimator: Any
    version: str = field(init=False)
    feature_names: list[str] = field(init=False)
    threshold: float = field(init=False)

    def __post_init__(self) -> None:
        self.version = str(self.card["version"])
        self.feature_names = list(self.card["feature_names"])
        self.threshold = float(self.card["threshold"])
        self._method = self.card.get("score_method", "neg_score_samples")

    def score(self, X: np.ndarray) -> np.ndarray:
        """Suspicion of each row (higher = more suspicious), vectorised."""
        X = np.asarray(X, dtype=np.float64)
        return suspicion(self.estimator, self._method, X)

    def score_beside(
        self, X: np.ndarray, champion_version: str, champion_scores: np.ndarray
    ) -> np.ndarray:
        """:meth:`score`, given the scores of the same rows by the model ``champion_version``.

        A challenger trained on top of that very champion (its card's ``champion_version``)
        takes them as its input instead of scoring the champion again; any other model, or
        scores with a failed (NaN) row, is scored by :meth:`score`.
        """
        given = np.asarray(champion_scores, dtype=np.float64)
        beside = getattr(self.estimator, "predict_proba_beside", None)
        if (
            beside is None
            or self._method != "proba"
            or self.card.get("champion_version") != champion_version
            or len(given) != len(X)
            or np.isnan(given).any()
        ):
            return self.score(X)
        return np.asarray(beside(np.asarray(X, dtype=np.float64), given)[:, 1], dtype=np.float64)

    def reasons(self, X: np.ndarray, top_k: int = 3) -> list[list[dict[str, str]]]:
        """The ``top_k`` strongest reasons of each row, ``[{"code", "text"}, ...]``."""
        from rtad.ml.reasons import ReasonExplainer

        explainer = ReasonExplainer.from_card(self.card)
        return explainer.explain(np.asarray(X, dtype=np.float64), top_k=top_k)


def suspicion(estimator: Any, method: str, X: np.ndarray) -> np.ndarray:
    """Higher-is-more-suspicious scores of a fitted estimator, by the card's score method."""
    if method == "neg_score_samples":
        return -np.asarray(estimator.score_samples(X), dtype=np.float64)
    if method == "proba":
        return np.asarray(estimator.predict_proba(X)[:, 1], dtype=np.float64)
    if method in ("decision_function", "score_samples"):
        return np.asarray(getattr(estimator, method)(X), dtype=np.float64)
    raise ModelLoadError(f"unknown score_method {method!r} in the model card")


def save_model(path: Path | str, estimator: Any, card: dict[str, Any]) -> Path:
    """Write ``estimator`` and its card under ``path`` (a directory); returns the path.

    The card gets the format tag, the artifact hash and, if absent, a version.
    """
    import skops.io as sio

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model_file = path / MODEL_FILE
    sio.dump(estimator, model_file)
    digest = _sha256(model_file)
    card = {"format": ARTIFACT_FORMAT, "format_version": FORMAT_VERSION, **card}
    card.setdefault("version", f"{card.get('detector', 'model')}-{digest[:12]}")
    card["artifact_sha256"] = digest
    text = json.dumps(card, indent=2, sort_keys=False, default=_json_default)
    (path / CARD_FILE).write_text(text + "\n", encoding="utf-8")
    return path


def load_model(path: Path | str) -> LoadedModel:
    """Load an artifact directory (or its ``model_card.json``); one-line error if refused."""
    path = Path(path)
    if path.name == CARD_FILE:
        path = path.parent
    card = _read_card(path)
    model_file = path / MODEL_FILE
    if not model_file.is_file():
        raise ModelLoadError(f"{path}: {MODEL_FILE} is missing")
    if _sha256(model_file) != card.get("artifact_sha256"):
        raise ModelLoadError(
            f"{model_file}: does not match its model card (SHA-256 differs): refusing a "
            "tampered or mixed-up artifact"
        )
    estimator = _load_trusted(model_file)
    return LoadedModel(card=card, estimator=estimator)


def _read_card(path: Path) -> dict[str, Any]:
    card_file = path / CARD_FILE
    if not path.exists():
        raise ModelLoadError(f"no model at {path}")
    if not card_file.is_file():
        raise ModelLoadError(f"{path}: not an rtad model ({CARD_FILE} is missing)")
    try:
        card = json.loads(card_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{card_file}: unreadable model card ({exc})") from None
    if not isinstance(card, dict) or card.get("format") != ARTIFACT_FORMAT:
        raise ModelLoadError(f"{card_file}: not an rtad model card (format is not rtad-model)")
    if card.get("format_version") != FORMAT_VERSION:
        raise ModelLoadError(
            f"{card_file}: model format version {card.get('format_version')!r} "
            f"(this rtad reads {FORMAT_VERSION})"
        )
    missing = [k for k in ("feature_names", "threshold", "version") if k not in card]
    if missing:
        raise ModelLoadError(f"{card_file}: model card lacks {', '.join(missing)}")
    if card.get("score_method", "neg_score_samples") not in SCORE_METHODS:
        raise ModelLoadError(f"{card_file}: unknown score_method {card['score_method']!r}")
    return card


def _load_trusted(model_file: Path) -> Any:
    import skops.io as sio

    try:
        found = sio.get_untrusted_types(file=model_file)
        foreign = sorted(set(found) - TRUSTED_TYPES)
        if foreign:
            raise ModelLoadError(
                f"{model_file}: holds types rtad does not trust: {', '.join(foreign[:5])}"
            )
        return sio.load(model_file, trusted=sorted(found))
    except ModelLoadError:
        raise
    except Exception as exc:  # skops raises many kinds on a corrupt zip
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(f"{model_file}: not a readable skops file ({reason})") from None


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
