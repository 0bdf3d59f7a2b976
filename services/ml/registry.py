"""Every detector the comparison knows, by name, built the same way for compare and train.

A :class:`Spec` builds a fresh estimator for given feature names and says how to turn it
into a higher-is-more-suspicious score (the model card's ``score_method``). Scale-sensitive
detectors get a quantile transform first, so no feature dominates by its unit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rtad.features.table import ASPECTS, SUSPICIOUS_DIRECTION


@dataclass(frozen=True)
class Spec:
    """How to build one detector and read its score."""

    name: str
    build: Callable[[Sequence[str], int], Any]
    score_method: str = "neg_score_samples"
    supervised: bool = False
    online: bool = False
    summary: str = ""
    #: False when skops cannot rebuild the fitted object (River's trees): compare only.
    persistable: bool = True


def directions(names: Sequence[str]) -> list[int]:
    """Suspicious directions of ``names`` (unknown names are context: 0)."""
    return [SUSPICIOUS_DIRECTION.get(n, 0) for n in names]


def _quantile_normal(estimator: Any, seed: int) -> Any:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import QuantileTransformer

    scaler = QuantileTransformer(
        n_quantiles=200, output_distribution="normal", subsample=100_000, random_state=seed
    )
    return make_pipeline(scaler, estimator)


def _card_tails(names: Sequence[str], seed: int) -> Any:
    from rtad.ml.detectors import CardTailDetector

    return CardTailDetector(
        directions=directions(names), aspects=[ASPECTS.get(n, "") for n in names]
    )


def _iforest(names: Sequence[str], seed: int) -> Any:
    from sklearn.ensemble import IsolationForest

    return IsolationForest(n_estimators=200, max_samples=512, random_state=seed, n_jobs=1)


def _lof(names: Sequence[str], seed: int) -> Any:
    from sklearn.neighbors import LocalOutlierFactor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from rtad.ml.detectors import SubsampledDetector

    # Not quantile-normal: its ties (many rows share a count) give LOF zero distances.
    lof = make_pipeline(StandardScaler(), LocalOutlierFactor(n_neighbors=100, novelty=True))
    return SubsampledDetector(lof, max_samples=20_000, random_state=seed)


def _ocsvm(names: Sequence[str], seed: int) -> Any:
    from sklearn.kernel_approximation import Nystroem
    from sklearn.linear_model import SGDOneClassSVM
    from sklearn.pipeline import make_pipeline

    kernel = Nystroem(gamma=0.05, n_components=200, random_state=seed)
    svm = SGDOneClassSVM(nu=0.02, random_state=seed, tol=1e-4)
    return _quantile_normal(make_pipeline(kernel, svm), seed)


def _robust_cov(names: Sequence[str], seed: int) -> Any:
    from sklearn.covariance import EllipticEnvelope

    from rtad.ml.detectors import SubsampledDetector

    envelope = EllipticEnvelope(support_fraction=0.9, contamination=0.01, random_state=seed)
    return SubsampledDetector(_quantile_normal(envelope, seed), 10_000, random_state=seed)


def _pyod(kind: str) -> Callable[[Sequence[str], int], Any]:
    def build(names: Sequence[str], seed: int) -> Any:
        from rtad.ml.detectors import PyODDetector

        return PyODDetector(kind=kind)

    return build


def _hst(names: Sequence[str], seed: int) -> Any:
    from rtad.ml.detectors import HalfSpaceTreesDetector

    return HalfSpaceTreesDetector(seed=seed)


def _pca(names: Sequence[str], seed: int) -> Any:
    from rtad.ml.detectors import PCAReconstruction

    return PCAReconstruction()


def _hgb(names: Sequence[str], seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, random_state=seed)


def _logreg(names: Sequence[str], seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return _quantile_normal(LogisticRegression(C=1.0, max_iter=1000), seed)


DETECTORS: dict[str, Spec] = {
    s.name: s
    for s in (
        Spec("card_tails", _card_tails, summary="sum of one-sided per-feature tail surprises"),
        Spec("isolation_forest", _iforest, summary="Isolation Forest"),
        Spec("lof", _lof, summary="Local Outlier Factor (novelty, k=100) on 20k rows"),
        Spec("ocsvm", _ocsvm, summary="Nystroem kernel + SGD one-class SVM"),
        Spec("robust_covariance", _robust_cov, summary="Elliptic envelope (MCD) on 10k rows"),
        Spec("ecod", _pyod("ecod"), summary="PyOD ECOD (two-sided tails)"),
        Spec("hbos", _pyod("hbos"), summary="PyOD HBOS (histograms)"),
        Spec(
            "half_space_trees",
            _hst,
            online=True,
            summary="River Half-Space Trees (online)",
            persistable=False,
        ),
        Spec("pca", _pca, summary="PCA reconstruction error"),
        Spec("hist_gradient_boosting", _hgb, "proba", True, summary="supervised upper bound"),
        Spec("logistic_regression", _logreg, "proba", True, summary="supervised linear"),
    )
}
UNSUPERVISED = tuple(n for n, s in DETECTORS.items() if not s.supervised)
