"""The artifact: round trip, and refusal of tampered, foreign or missing artifacts."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from rtad.features.table import FEATURE_COLUMNS
from rtad.ml.model_store import ModelLoadError, load_model
from rtad.ml.reasons import CODES
from rtad.ml.train import train


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.unit.ml.conftest import make_transactions

    base = tmp_path_factory.mktemp("artifact")
    data = base / "tx.parquet"
    make_transactions().astype({"timestamp": "datetime64[us, UTC]"}).to_parquet(data)
    train(data, base / "model", detector="card_tails", alert_rate=0.02)
    return base / "model"


def test_round_trip_scores_and_explains(artifact: Path) -> None:
    model = load_model(artifact)
    assert model.version.startswith("card_tails-")
    assert set(model.feature_names) <= set(FEATURE_COLUMNS)
    X = np.zeros((4, len(model.feature_names)))
    scores = model.score(X)
    assert scores.shape == (4,) and np.isfinite(scores).all()
    assert np.array_equal(scores, load_model(artifact / "model_card.json").score(X))
    reasons = model.reasons(X, top_k=2)
    assert len(reasons) == 4 and all(1 <= len(r) <= 2 for r in reasons)
    assert {r["code"] for row in reasons for r in row} <= set(CODES)


def test_model_card_describes_the_model(artifact: Path) -> None:
    card = json.loads((artifact / "model_card.json").read_text())
    assert card["detector"] == "card_tails" and card["alert_rate"] == 0.02
    assert card["training"]["rows"] == 480 and len(card["training"]["data_sha256"]) == 64
    assert {"scikit-learn", "numpy", "skops"} <= set(card["libraries"])
    score_ref = card["reference"]["score"]
    assert len(score_ref["fractions"]) == len(score_ref["edges"]) + 1
    assert card["metrics"]["in_sample"]["average_precision"] > 0.5


def copy_artifact(artifact: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    target.mkdir()
    for name in ("model.skops", "model_card.json"):
        (target / name).write_bytes((artifact / name).read_bytes())
    return target


def test_tampered_model_file_is_refused(artifact: Path, tmp_path: Path) -> None:
    target = copy_artifact(artifact, tmp_path)
    data = bytearray((target / "model.skops").read_bytes())
    data[-10] ^= 0xFF
    (target / "model.skops").write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="SHA-256 differs") as err:
        load_model(target)
    assert "\n" not in str(err.value)


def test_foreign_types_are_refused_even_with_a_matching_card(
    artifact: Path, tmp_path: Path
) -> None:
    target = copy_artifact(artifact, tmp_path)
    sio.dump({"model": zipfile.ZipFile}, target / "model.skops")  # a type rtad never trusts
    card = json.loads((target / "model_card.json").read_text())
    from rtad.ml.model_store import _sha256

    card["artifact_sha256"] = _sha256(target / "model.skops")
    (target / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ModelLoadError, match="does not trust: zipfile.ZipFile"):
        load_model(target)


def test_a_pickle_in_place_of_skops_is_refused(artifact: Path, tmp_path: Path) -> None:
    import pickle

    target = copy_artifact(artifact, tmp_path)
    (target / "model.skops").write_bytes(pickle.dumps({"x": 1}))
    card = json.loads((target / "model_card.json").read_text())
    from rtad.ml.model_store import _sha256

    card["artifact_sha256"] = _sha256(target / "model.skops")
    (target / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ModelLoadError, match="not a readable skops file"):
        load_model(target)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "no model at"),
        (lambda d: d.mkdir(), "model_card.json is missing"),
        (lambda d: (d.mkdir(), (d / "model_card.json").write_text("{")), "unreadable model card"),
        (
            lambda d: (d.mkdir(), (d / "model_card.json").write_text('{"format": "mlflow"}')),
            "not an rtad model card",
        ),
    ],
)
def test_missing_or_foreign_artifacts_are_one_line_errors(
    tmp_path: Path, setup, message: str
) -> None:
    target = tmp_path / "model"
    setup(target)
    with pytest.raises(ModelLoadError, match=message) as err:
        load_model(target)
    assert "\n" not in str(err.value)


def test_committed_champion_loads_and_matches_the_report() -> None:
    from rtad.ml.train import DEFAULT_DETECTOR

    root = Path(__file__).resolve().parents[3] / "models"
    report = json.loads((root / "report" / "comparison.json").read_text())
    model = load_model(root / "champion")
    assert report["champion"] == DEFAULT_DETECTOR == model.card["detector"]
    assert model.card["metrics"]["held_out"]["average_precision"] == pytest.approx(
        report["detectors"][DEFAULT_DETECTOR]["average_precision"]
    )
    assert set(model.feature_names) <= set(FEATURE_COLUMNS)
