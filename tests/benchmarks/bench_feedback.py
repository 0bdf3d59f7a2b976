"""Learning from verdicts: the challenger against the unsupervised champion.

    .venv/bin/python -m tests.benchmarks feedback

Generated data (``RTAD_BENCH_FEEDBACK_DAYS`` = 45 days, ``RTAD_BENCH_FEEDBACK_CUSTOMERS`` =
3000 card holders, fraud rate 1 %, seed 0); the champion is ``models/champion``. Simulated
investigators review the champion's top 100 transactions a day (verdicts a day later) and the
frauds they miss come back as chargebacks after 7 days. The challenger is trained on what is
known on day 30 and both models are measured on days 30-45: Average Precision, Card
Precision@100 per day, and recall per fraud scenario at a 1 % alert budget.
Targets: challenger AP >= champion + 0.10, CP@100 >= champion + 0.05, no scenario's recall
down by more than 0.05. Alternatives (decision 0006) on the same test days: no champion score,
every unverdicted row taken as genuine, verdicts only, every label known (upper bound), and
the challenger with and without the champion's score trained on day 10's verdicts.
Results: ``docs/benchmarks/results/feedback.json``.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from rtad.ml.feedback_replay import LoopConfig, holdout, parameters, prepare, simulate_verdicts
from rtad.ml.feedback_report import generate_days
from rtad.ml.model_store import load_model
from tests.benchmarks import render, results

DAYS = int(os.environ.get("RTAD_BENCH_FEEDBACK_DAYS", "45"))
CUSTOMERS = int(os.environ.get("RTAD_BENCH_FEEDBACK_CUSTOMERS", "3000"))
SEED = 0
FRAUD_RATE = 0.01
CHAMPION = Path("models/champion")
EARLY_DAY = 10
TARGETS = {"average_precision_gain": 0.10, "card_precision_at_100_gain": 0.05, "recall_loss": 0.05}


def verdicts_against_targets(result: dict[str, Any]) -> dict[str, Any]:
    """Each target with the measured figure and whether it is met."""
    champion, challenger = result["champion"], result["challenger"]
    ap_gain = challenger["average_precision"] - champion["average_precision"]
    cp_gain = challenger["card_precision_at_100"] - champion["card_precision_at_100"]
    losses = {
        name: champion["recall_by_scenario"][name] - challenger["recall_by_scenario"].get(name, 0)
        for name in champion["recall_by_scenario"]
    }
    worst = max(losses.values())
    ap, cp, loss = (
        TARGETS[k] for k in ("average_precision_gain", "card_precision_at_100_gain", "recall_loss")
    )
    return {
        "average_precision_gain": {"measured": ap_gain, "target": f">= {ap}", "met": ap_gain >= ap},
        "card_precision_at_100_gain": {
            "measured": cp_gain,
            "target": f">= {cp}",
            "met": cp_gain >= cp,
        },
        "worst_scenario_recall_loss": {
            "measured": worst,
            "scenario": max(losses, key=losses.__getitem__),
            "target": f"<= {loss}",
            "met": worst <= loss,
        },
    }


def alternatives(data: Any, labels: list[Any], champion: Any, config: LoopConfig) -> dict:
    """Other ways to train on the same verdicts (decision 0006), measured on the same days,
    with the trees of each (the cost of scoring it)."""
    from rtad.common.labels import latest_verdicts
    from rtad.ml.feedback import ChallengerModel, balanced_sample, fit_challenger
    from rtad.ml.feedback_replay import figures

    as_of = data.at(config.train_days)
    known = latest_verdicts(x for x in labels if x.given_at and x.given_at <= as_of)
    method = champion.card.get("score_method", "neg_score_samples")
    past = np.flatnonzero(data.day < config.train_days)
    ids = data.frame["transaction_id"].to_numpy(dtype=object)
    with_verdict = past[np.fromiter((t in known for t in ids[past]), bool, len(past))]
    verdict_y = np.array([int(known[t].is_fraud) for t in ids[with_verdict]])
    every, every_y, weights = balanced_sample(past, data.truth[past], data.truth[past] == 1, SEED)
    # a new model each (clone() would clone the fitted champion inside into an unfitted one)
    champion_based = [ChallengerModel(champion.estimator, method) for _ in range(2)]
    base = (data.X, data.frame, known, as_of)
    models = {
        "learning_rate_0.1": fit_challenger(
            *base, champion.estimator, method, learning_rate=0.1, seed=SEED
        )[0],
        "no_champion_score": fit_challenger(data.X, data.frame, known, as_of, None, method)[0],
        "unlabelled_taken_as_genuine": fit_challenger(
            data.X, data.frame, known, as_of, champion.estimator, method, timedelta(0)
        )[0],
        "verdicts_only": champion_based[0].fit(data.X[with_verdict], verdict_y),
        "every_label_known_upper_bound": champion_based[1].fit(
            data.X[every], every_y, sample_weight=weights
        ),
    }
    early = data.at(EARLY_DAY)  # few verdicts yet: what the champion's score brings
    early_known = latest_verdicts(x for x in labels if x.given_at and x.given_at <= early)
    for name, base in (("early_challenger", champion.estimator), ("early_no_champion", None)):
        models[name] = fit_challenger(data.X, data.frame, early_known, early, base, method)[0]
    test = np.flatnonzero(data.day >= config.train_days)
    return {
        name: figures(data, test, m.predict_proba(data.X[test])[:, 1]) | {"trees": int(m.n_iter_)}
        for name, m in models.items()
    }


def main() -> None:
    started, load_before = time.perf_counter(), results.load_now()
    config = LoopConfig(capacity=100, analyst_delay_days=1, chargeback_delay_days=7, train_days=30)
    champion = load_model(CHAMPION)
    with tempfile.TemporaryDirectory(prefix="rtad-bench-feedback-") as work:
        data_file = Path(work) / f"feedback-seed{SEED}.parquet"
        generate_days(data_file, DAYS, CUSTOMERS, SEED, FRAUD_RATE)
        data = prepare(data_file, champion)
    labels = simulate_verdicts(data, config)
    result = holdout(data, labels, champion, config)
    extra = {
        "title": "Challenger learnt from simulated verdicts vs the unsupervised champion",
        "data": {
            "generator": "rtad.generator.simulator (all scenarios)",
            "days": DAYS,
            "customers": CUSTOMERS,
            "fraud_rate": FRAUD_RATE,
            "seed": SEED,
            "rows": len(data.truth),
            "frauds": int(data.truth.sum()),
        },
        "champion": champion.version,
        "verdicts_by_day_30": result["training"],
        "test": {k: result[k] for k in ("train_days", "test_days", "test_rows", "test_frauds")},
        "targets": verdicts_against_targets(result),
        "alternatives": alternatives(data, labels, champion, config),
        "seconds": round(time.perf_counter() - started, 1),
    }
    figures = {k: result[k] for k in ("champion", "challenger")}
    results.write("feedback", figures, parameters(config), load_before, extra=extra)
    render.print_tables("feedback")


if __name__ == "__main__":
    main()
