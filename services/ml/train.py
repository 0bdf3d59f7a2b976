"""``rtad train``: fit one detector on a transaction file and write the artifact.

Features come from :func:`rtad.features.card_features.batch_features` (the streaming job's
code); the features the scorer watches for drift from the table of features.
A supervised detector needs labels; an unsupervised one ignores them. The threshold is the
training-score quantile that alerts on ``alert_rate`` of the rows. The model card records
everything needed to trust and monitor the model (see :mod:`rtad.ml.model_store`).
"""

from __future__ import annotations

import hashlib
import logging
import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rtad.common.errors import RtadError
from rtad.features.table import DRIFT_FEATURES, FEATURE_COLUMNS

log = logging.getLogger(__name__)

#: The comparison's champion on generated data (models/report/comparison.md).
DEFAULT_DETECTOR = "card_tails"
DRIFT_BINS = 10


@dataclass(frozen=True)
class TrainingData:
    """Transactions, their features (aligned) and labels when the file has them."""

    tx: pd.DataFrame
    features: pd.DataFrame
    feature_names: list[str]
    labels: np.ndarray | None
    data_sha256: str


def prepare(path: Path) -> TrainingData:
    """Load a file and compute its per-card features; constant features are left out."""
    from rtad.features.card_features import batch_features
    from rtad.ml.data import load_transactions

    tx = load_transactions(path)
    features = batch_features(tx)
    values = features[list(FEATURE_COLUMNS)]
    names = [c for c in FEATURE_COLUMNS if values[c].nunique() > 1]
    labels = tx["is_fraud"].to_numpy(dtype=np.int64) if "is_fraud" in tx else None
    return TrainingData(tx, features, names, labels, _sha256(path))


def fit_detector(
    name: str, X: np.ndarray, y: np.ndarray | None, names: list[str], seed: int
) -> Any:
    """A fitted estimator of the registry's ``name``."""
    from rtad.ml.registry import DETECTORS

    spec = DETECTORS.get(name)
    if spec is None:
        raise RtadError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")
    estimator = spec.build(names, seed)
    if spec.supervised:
        if y is None or y.sum() == 0 or y.sum() == len(y):
            raise RtadError(f"{name} is supervised: the file needs is_fraud labels of both kinds")
        return estimator.fit(X, y)
    return estimator.fit(X)


def train(
    data: Path,
    out: Path,
    detector: str | None = None,
    alert_rate: float = 0.005,
    seed: int = 0,
    comparison: Path | None = None,
) -> dict[str, Any]:
    """Fit, calibrate, describe and save; returns the model card.

    ``comparison``: a ``comparison.json`` whose held-out figures of this detector go into
    the card's metrics.
    """
    from rtad.ml.evaluation import summary
    from rtad.ml.model_store import save_model, suspicion
    from rtad.ml.reasons import reference_grid
    from rtad.ml.registry import DETECTORS

    if not 0 < alert_rate < 1:
        raise RtadError(f"--alert-rate must be between 0 and 1 (got {alert_rate})")
    name = detector or DEFAULT_DETECTOR
    spec = DETECTORS.get(name)
    if spec is not None and not spec.persistable:
        raise RtadError(
            f"{name} cannot be saved as a skops artifact (River's trees hold objects skops "
            "cannot rebuild): it is for rtad compare only"
        )
    prepared = prepare(data)
    X = prepared.features[prepared.feature_names].to_numpy(dtype=np.float64)
    started = time.perf_counter()
    estimator = fit_detector(name, X, prepared.labels, prepared.feature_names, seed)
    fit_seconds = time.perf_counter() - started
    spec = DETECTORS[name]
    scores = suspicion(estimator, spec.score_method, X)
    threshold = float(np.quantile(scores, 1 - alert_rate))
    metrics: dict[str, Any] = {"fit_seconds": round(fit_seconds, 3)}
    if prepared.labels is not None:
        metrics["in_sample"] = summary(prepared.labels, scores)
    if comparison is not None:
        metrics["held_out"] = _held_out(comparison, name)
    card = {
        "detector": name,
        "detector_summary": spec.summary,
        "params": _json_params(estimator),
        "score_method": spec.score_method,
        "supervised": spec.supervised,
        "feature_names": prepared.feature_names,
        "threshold": threshold,
        "alert_rate": alert_rate,
        "training": _training_section(prepared, data, seed),
        "metrics": metrics,
        "libraries": _library_versions(),
        "reference": drift_reference(scores, X, prepared.feature_names),
        "reason_reference": reference_grid(X, prepared.feature_names),
    }
    card["version"] = f"{name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{prepared.data_sha256[:8]}"
    save_model(out, estimator, card)
    log.info("wrote %s (%s, threshold %.4g)", out, name, threshold)
    return card


def _held_out(comparison: Path, name: str) -> dict[str, Any]:
    """The detector's figures on the comparison's later days (time-ordered split)."""
    import json

    try:
        report = json.loads(comparison.read_text())
        figures = report["detectors"][name]
    except (OSError, ValueError, KeyError) as exc:
        raise RtadError(f"{comparison}: no figures for {name} ({exc})") from None
    return {"report": comparison.name, "split": report.get("split"), **figures}


def _training_section(prepared: TrainingData, data: Path, seed: int) -> dict[str, Any]:
    times = prepared.features["event_time"]
    return {
        "data_file": data.name,
        "data_sha256": prepared.data_sha256,
        "rows": len(prepared.features),
        "cards": int(prepared.tx["user_id"].nunique()),
        "from": times.min().isoformat(),
        "to": times.max().isoformat(),
        "labelled": prepared.labels is not None,
        "fraud_rows": None if prepared.labels is None else int(prepared.labels.sum()),
        "seed": seed,
    }


def drift_reference(scores: np.ndarray, X: np.ndarray, names: list[str]) -> dict[str, Any]:
    """Training histograms (inner quantile edges, shares per bin) of the score and features."""
    features = {n: _histogram(X[:, names.index(n)]) for n in DRIFT_FEATURES if n in names}
    return {"score": _histogram(scores), "features": features}


def _histogram(values: np.ndarray) -> dict[str, list[float]]:
    inner = np.unique(np.quantile(values, np.linspace(0, 1, DRIFT_BINS + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(inner, values, side="right"), minlength=len(inner) + 1)
    return {"edges": inner.tolist(), "fractions": (counts / counts.sum()).tolist()}


def _json_params(estimator: Any) -> dict[str, Any]:
    """The estimator's parameters as JSON-friendly values (nested objects by their repr)."""
    out: dict[str, Any] = {}
    for key, value in estimator.get_params(deep=False).items():
        if isinstance(value, str | int | float | bool) or value is None:
            out[key] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, int | float) for v in value):
            out[key] = list(value)
        else:
            out[key] = repr(value)[:200]
    return out


def _library_versions() -> dict[str, str]:
    names = ("rtad", "scikit-learn", "numpy", "pandas", "skops", "pyod", "river")
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
