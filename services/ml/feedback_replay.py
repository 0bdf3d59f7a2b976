"""The feedback loop replayed over generated days: investigators, verdicts, retraining.

The champion scores every transaction; each day the simulated investigators
(:mod:`rtad.generator.investigators`) review the day's top ``capacity`` transactions by the
champion's score (the alert budget is their capacity; the challenger is in shadow, so the
champion's alerts are what they see) and give verdicts after the analyst delay; the frauds
they miss come back as chargebacks. Every ``retrain_every`` days a challenger is fitted on
what is known by then (:func:`rtad.ml.feedback.fit_challenger`) and both models are scored
on the days up to the next retraining. :func:`holdout` is the single-cut version: train on
the verdicts of the first ``train_days``, test on the rest.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rtad.common.errors import RtadError
from rtad.common.labels import Label, latest_verdicts

log = logging.getLogger(__name__)

#: The alert budget of the recall comparison, as a share of the transactions.
BUDGET = 0.01


@dataclass(frozen=True)
class LoopConfig:
    """The loop's parameters (days of event time)."""

    capacity: int = 100
    analyst_delay_days: float = 1.0
    chargeback_delay_days: float = 7.0
    retrain_every: int = 3
    first_training_day: int = 7
    train_days: int = 30
    seed: int = 0


@dataclass
class LoopData:
    """Features, truth and the champion's scores of a generated file, aligned."""

    frame: pd.DataFrame  # transaction_id, user_id, event_time (+ the features)
    X: np.ndarray
    truth: np.ndarray
    scenarios: np.ndarray  # fraud scenario of each fraud, "genuine" otherwise
    champion_scores: np.ndarray
    day: np.ndarray  # day index of each row from the first day (UTC)
    start: pd.Timestamp

    @property
    def days(self) -> int:
        return int(self.day.max()) + 1

    def at(self, day: float) -> datetime:
        return (self.start + pd.Timedelta(days=day)).to_pydatetime()


def prepare(data: Path, champion: Any) -> LoopData:
    """Load a labelled file, compute its features, score it with the champion."""
    from rtad.features.card_features import batch_features
    from rtad.ml.data import load_transactions

    tx = load_transactions(data)
    if "is_fraud" not in tx or tx["is_fraud"].sum() == 0:
        raise RtadError(f"{data}: the feedback loop needs is_fraud (the investigators' truth)")
    frame = batch_features(tx).reset_index(drop=True)
    X = frame[champion.feature_names].to_numpy(dtype=np.float64)
    truth = tx["is_fraud"].to_numpy(dtype=np.int64)
    named = tx.get("fraud_scenario", pd.Series("unnamed", index=tx.index)).fillna("unnamed")
    scenarios = np.where(truth == 1, named.to_numpy(dtype=object), "genuine")
    start = frame["event_time"].min().floor("D")
    day = ((frame["event_time"] - start) // pd.Timedelta(days=1)).to_numpy(dtype=np.int64)
    return LoopData(frame, X, truth, scenarios, champion.score(X), day, start)


def simulate_verdicts(data: LoopData, config: LoopConfig) -> list[Label]:
    """Every verdict and chargeback the investigators give over the data's days."""
    from rtad.generator.investigators import InvestigatorConfig, Investigators

    desk = Investigators(
        InvestigatorConfig(
            config.capacity,
            timedelta(days=config.analyst_delay_days),
            timedelta(days=config.chargeback_delay_days),
        )
    )
    ids = data.frame["transaction_id"].to_numpy(dtype=object)
    users = data.frame["user_id"].to_numpy(dtype=object)
    times = data.frame["event_time"].array.to_pydatetime()
    labels: list[Label] = []
    for day in range(data.days):
        rows = np.flatnonzero(data.day == day)
        rows = rows[np.argsort(times[rows], kind="stable")]
        for i in rows[data.truth[rows] == 1]:
            desk.observe(ids[i], users[i], True, times[i])
        top = rows[np.argsort(-data.champion_scores[rows], kind="stable")[: config.capacity]]
        for i in top:
            desk.alert(ids[i], users[i], float(data.champion_scores[i]), times[i])
        labels += desk.advance(data.at(day + 1))
    return labels


def figures(data: LoopData, rows: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """AP, CP@100, recall at the budget overall and per scenario, on ``rows``."""
    from rtad.ml.evaluation import at_budget, card_precision_at_k, recall_by_scenario, summary

    y = data.truth[rows]
    frame = data.frame.loc[rows, ["user_id", "event_time"]].assign(is_fraud=y)
    return {
        "average_precision": summary(y, scores)["average_precision"],
        "card_precision_at_100": card_precision_at_k(frame, scores, 100),
        f"recall_at_{BUDGET:.1%}": at_budget(y, scores, BUDGET)["recall"],
        "recall_by_scenario": recall_by_scenario(data.scenarios[rows], y, scores, BUDGET),
    }


def _fit(data: LoopData, labels: list[Label], day: int, champion: Any, config: LoopConfig) -> Any:
    from rtad.ml.feedback import fit_challenger

    as_of = data.at(day)
    known = latest_verdicts(lab for lab in labels if lab.given_at and lab.given_at <= as_of)
    model, counts = fit_challenger(
        data.X,
        data.frame,
        known,
        as_of,
        champion.estimator,
        champion.card.get("score_method", "neg_score_samples"),
        timedelta(days=config.chargeback_delay_days),
        config.seed,
    )
    return model, counts | {"verdicts": len(known)}


def holdout(data: LoopData, labels: list[Label], champion: Any, config: LoopConfig) -> dict:
    """Challenger trained on what is known by ``train_days`` vs the champion on the rest."""
    if not 0 < config.train_days < data.days:
        raise RtadError(f"--train-days must be within the data's {data.days} days")
    model, counts = _fit(data, labels, config.train_days, champion, config)
    rows = np.flatnonzero(data.day >= config.train_days)
    challenger = model.predict_proba(data.X[rows])[:, 1]
    return {
        "train_days": config.train_days,
        "test_days": data.days - config.train_days,
        "test_rows": int(len(rows)),
        "test_frauds": int(data.truth[rows].sum()),
        "training": counts | {"trees": int(model.n_iter_)},
        "champion": figures(data, rows, data.champion_scores[rows]),
        "challenger": figures(data, rows, challenger),
    }


def replay_loop(data: LoopData, labels: list[Label], champion: Any, config: LoopConfig) -> list:
    """One row per retraining: what the challenger knew, and both models on the next days."""
    periods = []
    for day in range(config.first_training_day, data.days, config.retrain_every):
        model, counts = _fit(data, labels, day, champion, config)
        rows = np.flatnonzero((data.day >= day) & (data.day < day + config.retrain_every))
        if data.truth[rows].sum() == 0:
            continue
        challenger = model.predict_proba(data.X[rows])[:, 1]
        champ = figures(data, rows, data.champion_scores[rows])
        chall = figures(data, rows, challenger)
        periods.append({"day": day, "training": counts, "champion": champ, "challenger": chall})
        log.info(
            "day %d: %d verdicts, AP champion %.3f challenger %.3f",
            day,
            counts["verdicts"],
            champ["average_precision"],
            chall["average_precision"],
        )
    return periods


def parameters(config: LoopConfig) -> dict[str, Any]:
    return asdict(config) | {"alert_budget_for_recall": BUDGET}
