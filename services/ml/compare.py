"""``rtad compare``: every detector on the same per-card features, on a time-ordered split.

Protocol (the fraud-detection handbook's): fit on the earlier days, skip a feedback delay
(labels of the last days before deployment are not known yet), test on the later days. Never
a random split: a card's future would leak into its past. The features of a test row use
the card's whole history up to that row, as the streaming job does.

Figures per detector: ROC-AUC, Average Precision, Card Precision@100 per day, precision and
recall at alert budgets of 0.5 % and 1 %, recall per fraud scenario at 1 %, fit time and
scoring rows/s. The champion is the best unsupervised detector by Average Precision.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rtad.common.errors import RtadError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimeSplit:
    """Train on the first ``train_share`` of the period, skip ``delay_share``, test on the rest."""

    train_share: float = 0.5
    delay_share: float = 0.1

    def masks(self, times: pd.Series) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
        start, end = times.min(), times.max()
        train_end = start + (end - start) * self.train_share
        test_start = train_end + (end - start) * self.delay_share
        train, test = (times < train_end).to_numpy(), (times >= test_start).to_numpy()
        window = {
            "train_from": start.isoformat(),
            "train_to": train_end.isoformat(),
            "test_from": test_start.isoformat(),
            "test_to": end.isoformat(),
        }
        return train, test, window


@dataclass
class Outcome:
    """One detector's test scores and figures."""

    name: str
    supervised: bool
    scores: np.ndarray
    figures: dict[str, Any] = field(default_factory=dict)


def evaluate(name: str, X: dict[str, np.ndarray], data: dict[str, Any], seed: int) -> Outcome:
    """Fit ``name`` on the train rows, score the test rows, compute every figure."""
    from rtad.ml.evaluation import card_precision_at_k, recall_by_scenario, summary
    from rtad.ml.registry import DETECTORS
    from rtad.ml.train import fit_detector

    spec = DETECTORS[name]
    started = time.perf_counter()
    with warnings.catch_warnings():
        # scikit-learn's MCD notes each C-step whose determinant grew: benign, and hundreds
        # of lines per fit would bury the progress bar.
        warnings.filterwarnings("ignore", "Determinant has increased", RuntimeWarning)
        estimator = fit_detector(name, X["train"], data["y_train"], data["names"], seed)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    scores = _score(estimator, spec, X["test"])
    score_seconds = max(time.perf_counter() - started, 1e-9)
    y, scenarios = data["y_test"], data["scenarios"]
    figures = summary(y, scores)
    figures["card_precision_at_100"] = card_precision_at_k(data["test_frame"], scores, 100)
    figures["recall_by_scenario_at_1.0%"] = recall_by_scenario(scenarios, y, scores, 0.01)
    figures["fit_seconds"] = fit_seconds
    figures["score_rows_per_second"] = len(scores) / score_seconds
    return Outcome(name, spec.supervised, scores, figures)


def _score(estimator: Any, spec: Any, X: np.ndarray) -> np.ndarray:
    """Test scores; an online detector scores each chunk, then learns from it (prequential)."""
    from rtad.ml.model_store import suspicion

    if not spec.online:
        return suspicion(estimator, spec.score_method, X)
    parts = []
    for chunk in np.array_split(X, max(1, math.ceil(len(X) / 2000))):
        parts.append(suspicion(estimator, spec.score_method, chunk))
        estimator.partial_fit(chunk)
    return np.concatenate(parts)


def prepare(path: Path, split: TimeSplit) -> dict[str, Any]:
    """Features, labels and the time split of a labelled file."""
    from rtad.ml.train import prepare as prepare_training

    prepared = prepare_training(path)
    if prepared.labels is None or prepared.labels.sum() == 0:
        raise RtadError(f"{path}: compare needs is_fraud labels with some frauds")
    train, test, window = split.masks(prepared.features["event_time"])
    if prepared.labels[test].sum() == 0 or train.sum() < 50:
        raise RtadError(f"{path}: too few rows or no fraud in the test window ({window})")
    X = prepared.features[prepared.feature_names].to_numpy(dtype=np.float64)
    scenario = prepared.tx.get("fraud_scenario")
    scenarios = (
        scenario.fillna("unnamed").to_numpy(dtype=object)
        if scenario is not None
        else np.full(len(X), "unnamed", dtype=object)
    )
    test_frame = prepared.features.loc[test, ["user_id", "event_time"]].assign(
        is_fraud=prepared.labels[test]
    )
    return {
        "X": {"train": X[train], "test": X[test]},
        "y_train": prepared.labels[train],
        "y_test": prepared.labels[test],
        "scenarios": np.where(prepared.labels[test] == 1, scenarios[test], "genuine"),
        "names": prepared.feature_names,
        "test_frame": test_frame,
        "window": window | {"train_rows": int(train.sum()), "test_rows": int(test.sum())},
        "data_sha256": prepared.data_sha256,
        "rows": len(X),
    }


def compare(
    data: Path,
    out: Path,
    detectors: list[str] | None = None,
    split: TimeSplit | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Run the comparison and write the report; returns the JSON summary."""
    from rtad.ml.registry import DETECTORS
    from rtad.ml.report import write_report

    names = detectors or list(DETECTORS)
    unknown = [n for n in names if n not in DETECTORS]
    if unknown:
        raise RtadError(f"unknown detector(s) {', '.join(unknown)}; have {', '.join(DETECTORS)}")
    prepared = prepare(data, split or TimeSplit())
    outcomes = _run_all(names, prepared, seed)
    return write_report(out, data, prepared, outcomes)


def _run_all(names: list[str], prepared: dict[str, Any], seed: int) -> list[Outcome]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    outcomes = []
    columns = (TextColumn("{task.description:<28}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task("comparing detectors", total=len(names))
        for name in names:
            progress.update(task, description=f"fitting {name}")
            outcomes.append(evaluate(name, prepared["X"], prepared, seed))
            progress.advance(task)
        progress.update(task, description="done")
    return outcomes
