"""Test data of the scorer: real simulated transactions, real features, real rtad.ml artifacts."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import redis

from rtad.common.streams import StreamNames
from rtad.generator.simulator import SimConfig, generate_frame
from rtad.ml.model_store import save_model
from rtad.ml.reasons import reference_grid
from rtad.streaming.features import FEATURE_COLUMNS, batch_features


def transactions(seed: int = 0, count: int = 3000, fraud_rate: float = 0.03) -> pd.DataFrame:
    """Simulated labelled transactions (the generator's own simulator)."""
    return generate_frame(SimConfig(seed=seed, count=count, customers=80, fraud_rate=fraud_rate))


def feature_rows(tx: pd.DataFrame, ingest_ms: int | None = None) -> list[dict[str, Any]]:
    """Feature entries as the Spark job writes them (the stream contract)."""
    feats = batch_features(tx).set_index("transaction_id")
    ingest = int(time.time() * 1000) if ingest_ms is None else ingest_ms
    rows = []
    for rec in tx.to_dict("records"):
        f = feats.loc[rec["transaction_id"]]
        row = {
            "transaction_id": rec["transaction_id"],
            "user_id": rec["user_id"],
            "merchant_id": rec["merchant_id"],
            "amount": float(rec["amount"]),
            "currency": rec["currency"],
            "event_time": rec["timestamp"].isoformat(),
            "ingest_ms": ingest,
            "feature_ms": ingest,
            "features": {name: float(f[name]) for name in FEATURE_COLUMNS},
        }
        if "is_fraud" in rec and not pd.isna(rec["is_fraud"]):
            row["is_fraud"] = int(rec["is_fraud"])
            scenario = rec.get("fraud_scenario")
            row["fraud_scenario"] = "genuine" if pd.isna(scenario) or not scenario else scenario
        rows.append(row)
    return rows


def train_artifact(path: Path, tx: pd.DataFrame, seed: int = 0, alert_share: float = 0.02) -> Path:
    """Fit an Isolation Forest on the features of ``tx`` and save it with rtad.ml's store."""
    from sklearn.ensemble import IsolationForest

    names = list(FEATURE_COLUMNS)
    X = batch_features(tx)[names].to_numpy(dtype=np.float64)
    forest = IsolationForest(n_estimators=50, random_state=seed).fit(X)
    scores = -forest.score_samples(X)
    card = {
        "detector": "isolation_forest",
        "score_method": "neg_score_samples",
        "feature_names": names,
        "threshold": float(np.quantile(scores, 1 - alert_share)),
        "reason_reference": reference_grid(X, names),
        "drift_reference": drift_reference(X, scores, names),
    }
    return save_model(path, forest, card)


def drift_reference(X: np.ndarray, scores: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    """Deciles of the training scores and of a few features (what the scorer's PSI reads)."""

    def bins(values: np.ndarray) -> dict[str, list[float]]:
        edges = np.unique(np.quantile(values, np.linspace(0.1, 0.9, 9)))
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        return {"edges": edges.tolist(), "counts": counts.tolist()}

    main = ("amount_ratio_log", "speed_log_kmh", "count_1h")
    return {
        "score": bins(scores),
        "features": {n: bins(X[:, names.index(n)]) for n in main if n in names},
    }


def publish(client: redis.Redis, names: StreamNames, rows: Sequence[dict[str, Any]]) -> list[bytes]:
    """XADD every row to its card's feature shard (encoding v1); returns the entry IDs."""
    pipe = client.pipeline(transaction=False)
    for row in rows:
        pipe.xadd(names.for_user("features", row["user_id"]), {"v": "1", "d": orjson.dumps(row)})
    return list(pipe.execute())


def read_stream(client: redis.Redis, names: StreamNames, kind: str) -> list[dict[str, Any]]:
    """Every entry of every shard of ``kind`` (decoded)."""
    out = []
    for key in names.all(kind):  # type: ignore[arg-type]
        for _id, fields in client.xrange(key):
            out.append(orjson.loads(fields[b"d"]) if b"d" in fields else fields)
    return out


def pending_total(client: redis.Redis, names: StreamNames, group: str = "scorer") -> int:
    total = 0
    for key in names.all("features"):
        try:
            total += int(client.xpending(key, group)["pending"])
        except redis.ResponseError:
            pass
    return total
