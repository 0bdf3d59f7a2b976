"""The documented command end to end: real ``rtad generate``, ``compare``, ``train``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rtad.features.table import FEATURE_COLUMNS
from rtad.ml.build_models import main
from rtad.ml.model_store import load_model
from rtad.ml.report import JSON_FILE, MARKDOWN_FILE, PLOTS


def test_build_models_writes_report_and_a_champion_that_loads(tmp_path: Path) -> None:
    models = tmp_path / "models"
    argv = ["--models", str(models), "--work-dir", str(tmp_path / "work")]
    main([*argv, "--count", "6000", "--customers", "120", "--seed", "3"])

    summary = json.loads((models / "report" / JSON_FILE).read_text())
    assert all((models / "report" / p).stat().st_size > 0 for p in (MARKDOWN_FILE, *PLOTS))
    model = load_model(models / "champion")
    assert model.card["detector"] == summary["champion"]
    held_out = model.card["metrics"]["held_out"]
    assert (
        held_out["average_precision"]
        == summary["detectors"][summary["champion"]]["average_precision"]
    )
    assert set(model.feature_names) <= set(FEATURE_COLUMNS)
    X = np.zeros((3, len(model.feature_names)))
    assert model.score(X).shape == (3,) and len(model.reasons(X)) == 3
