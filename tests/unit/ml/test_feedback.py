"""The challenger: scikit-learn's contract, its targets under label bias, its artifact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.utils.estimator_checks import parametrize_with_checks

from rtad.common.labels import Label
from rtad.ml.feedback import ChallengerModel, balanced_sample, fit_challenger, training_targets
from rtad.ml.model_store import load_model, save_model

DAY0 = datetime(2026, 1, 5, tzinfo=UTC)


@parametrize_with_checks([ChallengerModel(max_iter=10)])
def test_sklearn_contract(estimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)


def verdict(tx: str, fraud: bool, day: float, source: str = "simulated") -> Label:
    return Label(
        transaction_id=tx,
        user_id="u",
        verdict="fraud" if fraud else "genuine",  # type: ignore[arg-type]
        source=source,  # type: ignore[arg-type]
        given_at=DAY0 + timedelta(days=day),
    )


def test_targets_follow_the_label_bias_rules() -> None:
    frame = pd.DataFrame(
        {
            "transaction_id": ["old", "old-fraud", "reviewed", "recent", "late-verdict", "future"],
            "event_time": pd.to_datetime(
                [DAY0 + timedelta(days=d) for d in (0, 1, 9, 9.5, 9.2, 11)], utc=True
            ),
        }
    )
    labels = {
        "old-fraud": verdict("old-fraud", True, 8, "chargeback"),
        "reviewed": verdict("reviewed", False, 9.9),
        "late-verdict": verdict("late-verdict", True, 10.5),  # not given yet on day 10
    }
    as_of = DAY0 + timedelta(days=10)
    rows, y, explicit = training_targets(frame, labels, as_of, timedelta(days=7))
    kept = frame["transaction_id"].to_numpy()[rows].tolist()
    # old: no chargeback in 7 days -> genuine; recent and unverdicted: left out; future: out
    assert kept == ["old", "old-fraud", "reviewed"]
    assert y.tolist() == [0, 1, 0]
    assert explicit.tolist() == [False, True, True]
    # a verdict given after as_of is no verdict yet: its settled row is an implicit genuine
    late = labels | {"old": verdict("old", True, 10.5, "chargeback")}
    rows, y, explicit = training_targets(frame, late, as_of, timedelta(days=7))
    assert frame["transaction_id"].to_numpy()[rows].tolist() == kept
    assert y.tolist() == [0, 1, 0] and explicit.tolist() == [False, True, True]


def test_implicit_genuine_rows_are_subsampled_and_weighted_up() -> None:
    rows = np.arange(1000)
    y = np.zeros(1000, dtype=np.int64)
    y[:10] = 1
    explicit = np.zeros(1000, dtype=bool)
    explicit[:50] = True
    kept, ky, weights = balanced_sample(rows, y, explicit, seed=0, limit=190)
    assert set(range(50)) <= set(kept.tolist()) and len(kept) == 240
    assert ky.sum() == 10
    assert weights[:50].tolist() == [1.0] * 50 and np.allclose(weights[50:], 950 / 190)


@pytest.fixture(scope="module")
def learnt() -> dict:
    rng = np.random.default_rng(0)
    n = 3000
    X = rng.normal(size=(n, 4))
    truth = (X[:, 0] + X[:, 1] > 3.0).astype(int)
    times = pd.to_datetime([DAY0 + timedelta(hours=h) for h in np.linspace(0, 30 * 24, n)])
    frame = pd.DataFrame({"transaction_id": [f"t{i}" for i in range(n)], "event_time": times})
    champion = IsolationForest(n_estimators=20, random_state=0).fit(X)
    score = -champion.score_samples(X)
    top = np.argsort(-score)[:300]  # what the analysts saw: the champion's top
    labels = {f"t{i}": verdict(f"t{i}", bool(truth[i]), 1) for i in top}
    labels |= {
        f"t{i}": verdict(f"t{i}", True, 2, "chargeback")
        for i in np.flatnonzero(truth)
        if f"t{i}" not in labels
    }
    as_of = DAY0 + timedelta(days=30)
    model, counts = fit_challenger(X, frame, labels, as_of, champion, "neg_score_samples")
    return {"X": X, "truth": truth, "champion": champion, "model": model, "counts": counts}


def test_the_challenger_learns_what_the_champion_misses(learnt: dict) -> None:
    from sklearn.metrics import average_precision_score

    X, truth = learnt["X"], learnt["truth"]
    champion_ap = average_precision_score(truth, -learnt["champion"].score_samples(X))
    challenger_ap = average_precision_score(truth, learnt["model"].predict_proba(X)[:, 1])
    assert challenger_ap > champion_ap + 0.1
    assert learnt["counts"]["verdict_rows"] >= 300 and learnt["counts"]["fraud_rows"] > 0


def saved(model: ChallengerModel, where: Path, **card: str) -> Any:
    """The challenger saved as an artifact of four features (``card``: more of its card),
    loaded back."""
    base = {"detector": "challenger", "score_method": "proba", "threshold": 0.5}
    save_model(where, model, base | {"feature_names": ["a", "b", "c", "d"]} | card)
    return load_model(where)


def test_the_challenger_is_a_trusted_skops_artifact_scored_like_the_champion(
    learnt: dict, tmp_path: Path
) -> None:
    loaded = saved(learnt["model"], tmp_path, feature_set="0123456789ab")
    X = learnt["X"][:50]
    assert np.allclose(loaded.score(X), learnt["model"].predict_proba(X)[:, 1])
    assert loaded.card["feature_set"] == "0123456789ab"


def test_a_challenger_takes_its_own_champions_scores_and_only_those(
    learnt: dict, tmp_path: Path
) -> None:
    loaded = saved(learnt["model"], tmp_path, champion_version="champion-1")
    X = learnt["X"][:200]
    own = -learnt["champion"].score_samples(X)
    # the champion's scores, given: the same as scoring the champion again
    assert np.allclose(loaded.score_beside(X, "champion-1", own), loaded.score(X))
    # they are used as given: other scores from the same version change the answer
    shifted = loaded.score_beside(X, "champion-1", own + 1.0)
    assert not np.allclose(shifted, loaded.score(X))
    # scores of another champion, or with a failed row, are not used
    assert np.allclose(loaded.score_beside(X, "champion-2", own + 1.0), loaded.score(X))
    broken = np.where(np.arange(len(own)) == 3, np.nan, own + 1.0)
    assert np.allclose(loaded.score_beside(X, "champion-1", broken), loaded.score(X))
