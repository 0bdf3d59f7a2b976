"""Decoding of feature heads and vectorised scoring of feature rows (pure: no Redis)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from rtad.ml.model_store import load_model
from rtad.scorer.scoring import decode_row, feature_matrix, head_decoder, score_matrix
from rtad.scorer.worker.faults import PoisonedModel
from tests.unit.scorer.support import packed_fields


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Any:
    return load_model(model_dir)


def test_heads_decode_with_the_fields_a_score_entry_passes_on(scorer_rows: list[dict]) -> None:
    heads = [decode_row(packed_fields(r)[b"d"], head_decoder) for r in scorer_rows[:50]]
    assert [h.transaction_id for h in heads] == [r["transaction_id"] for r in scorer_rows[:50]]
    assert [h.event_time for h in heads] == [r["event_time"] for r in scorer_rows[:50]]
    assert all(len(h.feature_set) == 12 and h.amount > 0 for h in heads)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h: h.pop("ingest_ms"), "missing required field `ingest_ms`"),
        (lambda h: h.pop("feature_set"), "missing required field `feature_set`"),
        (lambda h: h.__setitem__("amount", None), "Expected `float`, got `null`"),
        (lambda h: h.__setitem__("user_id", 3), "Expected `str`, got `int`"),
    ],
)
def test_an_invalid_head_is_refused_with_a_one_line_reason(
    scorer_rows: list[dict], change: Any, message: str
) -> None:
    head = orjson.loads(packed_fields(scorer_rows[0])[b"d"])
    change(head)
    with pytest.raises(ValueError, match="invalid feature row") as info:
        decode_row(orjson.dumps(head), head_decoder)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_head_that_is_not_json_is_refused() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        decode_row(b'{"transaction_id": ', head_decoder)


def test_feature_matrix_names_missing_and_non_finite_rows(model: Any) -> None:
    names = model.feature_names
    good = dict.fromkeys(names, 0.5)
    maps = [good, {**good, names[3]: float("nan")}, {n: 1.0 for n in names[1:]}, good]
    X, bad = feature_matrix(maps, names)
    assert X.shape == (2, len(names))
    assert bad == {1: f"feature {names[3]!r} is not a finite number", 2: bad[2]}
    assert bad[2].startswith("missing feature(s): " + names[0])


def test_scores_and_reasons_only_for_anomalies(model: Any, scorer_rows: list[dict]) -> None:
    X = np.array([[r["features"][n] for n in model.feature_names] for r in scorer_rows])
    scored = score_matrix(model, X)
    flagged = scored.is_anomaly
    assert 0 < flagged.sum() < len(X)
    np.testing.assert_array_equal(flagged, model.score(X) >= model.threshold)
    assert all(scored.reasons[i] for i in np.flatnonzero(flagged))
    assert not any(scored.reasons[i] for i in np.flatnonzero(~flagged))
    codes = {r["code"] for i in np.flatnonzero(flagged) for r in scored.reasons[i]}
    assert codes and all(isinstance(c, str) for c in codes)


def test_explain_all_gives_every_row_its_reasons(model: Any, scorer_rows: list[dict]) -> None:
    X = np.array([[r["features"][n] for n in model.feature_names] for r in scorer_rows[:20]])
    scored = score_matrix(model, X, explain_all=True)
    assert len(scored.reasons) == 20 and all(isinstance(r, list) for r in scored.reasons)


def test_a_row_the_model_fails_on_is_isolated_and_the_rest_scored(
    model: Any, scorer_rows: list[dict]
) -> None:
    X = np.array([[r["features"][n] for n in model.feature_names] for r in scorer_rows[:64]])
    X[37, 0] = 12345.0
    scored = score_matrix(PoisonedModel(model, 12345.0), X)
    assert list(scored.failed) == [37] and "poisoned row" in scored.failed[37]
    ok = np.arange(64) != 37
    np.testing.assert_allclose(scored.scores[ok], model.score(X[ok]))
    assert np.isnan(scored.scores[37]) and not scored.is_anomaly[37]


class _Extreme:
    """A model answering NaN for row 0 and +inf for row 1 (delegates the rest)."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def score(self, X: np.ndarray) -> np.ndarray:
        out = self._model.score(X)
        out[: min(len(out), 2)] = [np.nan, np.inf][: min(len(out), 2)]
        return out


def test_nan_scores_fail_the_row_and_infinite_ones_are_clipped(
    model: Any, scorer_rows: list[dict]
) -> None:
    X = np.array([[r["features"][n] for n in model.feature_names] for r in scorer_rows[:5]])
    scored = score_matrix(_Extreme(model), X)
    assert scored.failed == {0: "model returned NaN for this row"}
    assert np.isfinite(scored.scores[1:]).all() and scored.is_anomaly[1]
