"""``rtad compare`` on a small labelled file writes its whole report; ``rtad train`` CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rtad.common.errors import RtadError
from rtad.ml.compare import TimeSplit, compare
from rtad.ml.report import JSON_FILE, MARKDOWN_FILE, PLOTS
from tests.unit.ml.conftest import make_transactions

RTAD = [sys.executable, "-m", "rtad.cli.main"]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compare") / "tx.parquet"
    tx = make_transactions(cards=15, per_card=40)
    tx.astype({"timestamp": "datetime64[us, UTC]"}).to_parquet(path, index=False)
    return path


@pytest.fixture(scope="module")
def report(data_file: Path) -> tuple[Path, dict]:
    out = data_file.parent / "report"
    # A few detectors of each kind (test_detectors runs every one through fit and score).
    chosen = ["card_tails", "isolation_forest", "half_space_trees", "hist_gradient_boosting"]
    return out, compare(data_file, out, detectors=chosen)


def test_report_has_every_figure_of_every_detector(report: tuple[Path, dict]) -> None:
    out, summary = report
    saved = json.loads((out / JSON_FILE).read_text())
    assert saved["champion"] == summary["champion"]
    assert not saved["detectors"][saved["champion"]]["supervised"]
    for figures in saved["detectors"].values():
        for key in (
            "average_precision",
            "roc_auc",
            "card_precision_at_100",
            "precision_at_0.5%",
            "recall_at_0.5%",
            "precision_at_1.0%",
            "recall_at_1.0%",
            "fit_seconds",
            "score_rows_per_second",
        ):
            assert key in figures
        assert set(figures["recall_by_scenario_at_1.0%"]) == {"impossible_travel"}


def test_split_is_time_ordered_with_a_delay(report: tuple[Path, dict]) -> None:
    split = report[1]["split"]
    assert split["train_from"] < split["train_to"] < split["test_from"] < split["test_to"]


def test_markdown_and_small_plots_are_written(report: tuple[Path, dict]) -> None:
    out, summary = report
    text = (out / MARKDOWN_FILE).read_text()
    assert f"`{summary['champion']}`" in text and "| detector |" in text
    for plot in PLOTS:
        size = (out / plot).stat().st_size
        assert 1_000 < size < 300_000
        assert f"]({plot})" in text


def test_unlabelled_file_is_refused_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "plain.parquet"
    tx = make_transactions(cards=3, per_card=10).drop(columns=["is_fraud", "fraud_scenario"])
    tx.astype({"timestamp": "datetime64[us, UTC]"}).to_parquet(path)
    with pytest.raises(RtadError, match="needs is_fraud labels"):
        compare(path, tmp_path / "out", split=TimeSplit())


def test_train_cli_writes_a_loadable_model_and_bad_input_is_one_line(
    data_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "model"
    args = [*RTAD, "train", "--data", str(data_file), "--out", str(out)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and (out / "model_card.json").exists()
    bad = subprocess.run(
        [*args[:-1], str(tmp_path / "m2"), "--detector", "nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1
    assert bad.stderr.strip().count("\n") == 0 and "unknown detector 'nope'" in bad.stderr


def test_unsupervised_training_without_labels(tmp_path: Path) -> None:
    from rtad.ml.model_store import load_model
    from rtad.ml.train import train

    path = tmp_path / "plain.csv"
    tx = make_transactions(cards=4, per_card=20).drop(columns=["is_fraud", "fraud_scenario"])
    tx.to_csv(path, index=False)
    card = train(path, tmp_path / "model", detector="isolation_forest")
    assert card["training"]["labelled"] is False and "in_sample" not in card["metrics"]
    model = load_model(tmp_path / "model")
    assert model.score(pd.DataFrame([[0.0] * len(model.feature_names)]).to_numpy()).shape == (1,)
