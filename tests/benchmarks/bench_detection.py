"""Detection on data the system was not developed on: the README's detection table.

    .venv/bin/python -m tests.benchmarks detection

For each variant of ``tests/system/test_detection.py``: train without labels on the first half
(by event time), score the later half through the same feature code, and record AP, recall at
a 1 % alert budget and recall per scenario in ``docs/benchmarks/results/detection.json``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from rtad.features.card_features import batch_features
from rtad.ml.data import load_transactions
from rtad.ml.evaluation import recall_by_scenario
from rtad.ml.model_store import load_model
from tests.benchmarks import render, results
from tests.system import test_detection as variants


def measure(name: str, work: Path) -> dict:
    config = variants.VARIANTS[name]
    records = list(variants.generate_records(config))
    train, later = variants._split(records)
    model = load_model(variants._train_unsupervised(train, work))
    features = batch_features(load_transactions(variants._write(records, work / "all.jsonl")))
    by_id = {r["transaction_id"]: r for r in later}
    rows = features[features["transaction_id"].isin(by_id)]
    scores = model.score(rows[model.feature_names].to_numpy())
    y = np.array([int(by_id[t].get("is_fraud") or 0) for t in rows["transaction_id"]])
    scenario = np.array([by_id[t].get("fraud_scenario") or "" for t in rows["transaction_id"]])
    figures = variants._judge(y, scores)
    figures["per_scenario"] = recall_by_scenario(scenario, y, scores, 0.01)
    return {"variant": name, "count": config.count, "cards": config.customers, **figures}


def main() -> None:
    load_before = results.load_now()
    measured = []
    for name in sorted(variants.VARIANTS):
        with tempfile.TemporaryDirectory() as tmp:
            measured.append(measure(name, Path(tmp)))
    parameters = {
        name: {"count": c.count, "customers": c.customers, "seed": c.seed}
        for name, c in sorted(variants.VARIANTS.items())
    }
    results.write("detection", measured, {"variants": parameters}, load_before)
    render.print_tables("detection")
