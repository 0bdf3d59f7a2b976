"""Every detector of the comparison through the same checks (River's test_estimators style).

rtad's own detector classes also pass scikit-learn's estimator checks.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from rtad.features.table import FEATURE_COLUMNS
from rtad.ml.detectors import (
    CardTailDetector,
    HalfSpaceTreesDetector,
    PCAReconstruction,
    PyODDetector,
    SubsampledDetector,
)
from rtad.ml.model_store import suspicion
from rtad.ml.registry import DETECTORS, UNSUPERVISED, directions
from rtad.ml.train import fit_detector


@parametrize_with_checks(
    [
        CardTailDetector(),  # per-feature directions/aspects need a fixed width: see below
        CardTailDetector(peak_weight=0.0),
        PCAReconstruction(),
        PyODDetector(kind="ecod"),
        PyODDetector(kind="hbos"),
        HalfSpaceTreesDetector(n_trees=3, height=4, window_size=20),
        SubsampledDetector(max_samples=50),
    ],
    expected_failed_checks=lambda est: (
        {
            "check_methods_subset_invariance": (
                "PyOD's ECOD scores a batch against the training rows plus the batch itself"
            )
        }
        if isinstance(est, PyODDetector) and est.kind == "ecod"
        else {}
    ),
)
def test_sklearn_contract(estimator, check) -> None:
    check(estimator)


@pytest.fixture(scope="module")
def frame() -> dict:
    """Train and test rows of real per-card features with labelled frauds."""
    from rtad.features.card_features import batch_features
    from tests.unit.ml.conftest import make_transactions

    tx = make_transactions(cards=10, per_card=30)
    X = batch_features(tx)[list(FEATURE_COLUMNS)].to_numpy()
    y = tx["is_fraud"].to_numpy()
    return {"train": X[:200], "y": y[:200], "test": X[200:], "y_test": y[200:]}


@pytest.mark.parametrize("name", list(DETECTORS))
def test_every_detector_fits_and_scores(name: str, frame: dict) -> None:
    spec = DETECTORS[name]
    estimator = fit_detector(name, frame["train"], frame["y"], list(FEATURE_COLUMNS), seed=0)
    scores = suspicion(estimator, spec.score_method, frame["test"])
    assert scores.shape == (len(frame["test"]),) and np.isfinite(scores).all()
    assert scores.std() > 0  # it ranks rows, it does not return a constant
    again = suspicion(estimator, spec.score_method, frame["test"])
    np.testing.assert_allclose(scores, again)  # scoring does not change the model


def test_registry_has_the_compared_families() -> None:
    assert {"card_tails", "isolation_forest", "lof", "ocsvm", "robust_covariance"} <= set(
        UNSUPERVISED
    )
    assert {"ecod", "hbos", "half_space_trees", "pca"} <= set(UNSUPERVISED)
    supervised = {n for n, s in DETECTORS.items() if s.supervised}
    assert supervised == {"hist_gradient_boosting", "logistic_regression"}


def test_card_tails_is_one_sided_and_counts_an_aspect_once() -> None:
    x = np.random.default_rng(0).normal(size=2000)
    X = np.column_stack([x, x, x])
    det = CardTailDetector(directions=[1, 1, 1], aspects=["a", "a", "b"]).fit(X)
    low, high = det.score_samples([[-4.0, 0, 0], [4.0, 0, 0]])
    assert low > high  # only large values are suspicious in direction 1
    twin, alone = det.score_samples([[4.0, 4.0, 0], [0, 0, 4.0]])
    assert twin == pytest.approx(alone, rel=0.05)  # two features of one aspect count once


def test_card_tails_extrapolates_beyond_the_training_range() -> None:
    X = np.random.default_rng(0).exponential(size=(2000, 1))
    det = CardTailDetector(directions=[1]).fit(X)
    far, farther = det.score_samples([[30.0], [60.0]])
    assert farther < far  # still ranks rows no training row came close to


def test_directions_are_checked() -> None:
    with pytest.raises(ValueError, match="directions"):
        CardTailDetector(directions=[3]).fit(np.zeros((10, 1)))
    assert directions(["amount_ratio_log", "history_log_count", "unknown"]) == [2, 0, 0]


@pytest.mark.parametrize("name", [n for n, s in DETECTORS.items() if s.persistable])
def test_every_detector_round_trips_through_the_model_store(
    name: str, frame: dict, tmp_path
) -> None:
    from rtad.ml.model_store import load_model, save_model

    spec = DETECTORS[name]
    estimator = fit_detector(name, frame["train"], frame["y"], list(FEATURE_COLUMNS), seed=0)
    card = {
        "detector": name,
        "score_method": spec.score_method,
        "feature_names": list(FEATURE_COLUMNS),
        "threshold": 0.0,
    }
    save_model(tmp_path, estimator, card)
    loaded = load_model(tmp_path)  # every type of every detector is on the allow-list
    expected = suspicion(estimator, spec.score_method, frame["test"])
    np.testing.assert_allclose(loaded.score(frame["test"]), expected)


def test_a_detector_skops_cannot_rebuild_is_refused_before_training(tmp_path) -> None:
    from rtad.common.errors import RtadError
    from rtad.ml.train import train

    with pytest.raises(RtadError, match="half_space_trees cannot be saved"):
        train(tmp_path / "unused.jsonl", tmp_path / "model", detector="half_space_trees")
