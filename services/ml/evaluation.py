"""Detection figures: AP, ROC-AUC, recall and precision at an alert budget, Card Precision@k.

>>> import numpy as np
>>> y = np.array([0, 0, 1, 0, 1]); s = np.array([0.1, 0.2, 0.9, 0.3, 0.8])
>>> at_budget(y, s, 0.4)
{'precision': 1.0, 'recall': 1.0, 'alerts': 2}
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def top_k_mask(scores: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` highest scores (ties broken by position, so exactly ``k`` rows)."""
    mask = np.zeros(len(scores), dtype=bool)
    if k > 0:
        mask[np.argsort(-scores, kind="stable")[:k]] = True
    return mask


def at_budget(y: np.ndarray, scores: np.ndarray, rate: float) -> dict[str, Any]:
    """Precision and recall when the top ``rate`` share of rows raise an alert."""
    k = max(1, math.ceil(rate * len(scores)))
    alerts = top_k_mask(scores, k)
    hits = int(y[alerts].sum())
    positives = int(y.sum())
    return {
        "precision": hits / k,
        "recall": hits / positives if positives else float("nan"),
        "alerts": k,
    }


def card_precision_at_k(frame: pd.DataFrame, scores: np.ndarray, k: int = 100) -> float:
    """Mean over days of the share of truly compromised cards among the day's top-k cards.

    ``frame`` has ``user_id``, ``event_time`` and ``is_fraud``; a card's daily score is its
    highest transaction score that day (the fraud-detection handbook's definition).
    """
    daily = pd.DataFrame(
        {
            "day": frame["event_time"].dt.floor("D").to_numpy(),
            "card": frame["user_id"].to_numpy(),
            "score": scores,
            "fraud": frame["is_fraud"].to_numpy(),
        }
    )
    per_card = daily.groupby(["day", "card"], sort=False).agg(
        score=("score", "max"), fraud=("fraud", "max")
    )
    precisions = [
        group.nlargest(k, "score")["fraud"].sum() / k
        for _, group in per_card.groupby(level="day", sort=True)
    ]
    return float(np.mean(precisions)) if precisions else float("nan")


def recall_by_scenario(
    scenarios: np.ndarray, y: np.ndarray, scores: np.ndarray, rate: float
) -> dict[str, float]:
    """Recall of each fraud scenario at the alert budget ``rate``."""
    alerts = top_k_mask(scores, max(1, math.ceil(rate * len(scores))))
    out = {}
    for name in sorted(set(scenarios[y == 1].tolist())):
        rows = (scenarios == name) & (y == 1)
        out[str(name)] = float(alerts[rows].mean())
    return out


def summary(y: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """AP, ROC-AUC and budget figures at 0.5 % and 1 % (NaN-free only when both classes exist)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    both = 0 < y.sum() < len(y)
    out: dict[str, Any] = {
        "average_precision": float(average_precision_score(y, scores)) if both else None,
        "roc_auc": float(roc_auc_score(y, scores)) if both else None,
    }
    for rate in (0.005, 0.01):
        figures = at_budget(y, scores, rate)
        out[f"precision_at_{rate:.1%}"] = figures["precision"]
        out[f"recall_at_{rate:.1%}"] = figures["recall"]
    return out
