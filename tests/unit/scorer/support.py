"""Test data of the scorer: real simulated transactions, real features, real rtad.ml artifacts."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import redis

from rtad.common.feature_entry import encode_feature_entry, register_feature_set
from rtad.common.streams import StreamNames
from rtad.features.card_features import batch_features
from rtad.features.table import FEATURE_COLUMNS
from rtad.generator.simulator import SimConfig, generate_records
from rtad.ml.data import load_transactions
from rtad.ml.train import train

#: The record's optional text fields, carried in the feature entry's head when present.
OPTIONAL_FIELDS = ("merchant_category", "channel", "country")

#: A score entry's fields, in order (is_fraud and fraud_scenario only when known).
SCORE_FIELDS = (
    "transaction_id",
    "user_id",
    "score",
    "is_anomaly",
    "threshold",
    "model_version",
    "reasons",
    "event_time",
    "ingest_ms",
    "scored_ms",
    "amount",
    "merchant_id",
    "is_fraud",
    "fraud_scenario",
)


def write_transactions(path: Path, seed: int = 0, count: int = 3000) -> Path:
    """Simulated labelled transactions (the generator's simulator) as a JSONL file."""
    config = SimConfig(seed=seed, count=count, customers=80, fraud_rate=0.03)
    with path.open("wb") as out:
        for record in generate_records(config):
            out.write(orjson.dumps(record) + b"\n")
    return path


def transactions(path: Path) -> pd.DataFrame:
    """The validated frame of a transaction file (what ``rtad train`` reads)."""
    return load_transactions(path)


def feature_rows(tx: pd.DataFrame, ingest_ms: int | None = None) -> list[dict[str, Any]]:
    """Feature rows as dicts: the entry's head and a ``features`` dict of name → value;
    :func:`packed_fields` makes each a feature entry, as the Spark job writes them."""
    feats = batch_features(tx).set_index("transaction_id")
    ingest = int(time.time() * 1000) if ingest_ms is None else ingest_ms
    rows = []
    for rec in tx.to_dict("records"):
        f = feats.loc[rec["transaction_id"]]
        # the head the Spark job writes: the whole record (its zone kept), then the times
        row = {
            "transaction_id": rec["transaction_id"],
            "event_time": rec["timestamp"].tz_convert("Europe/Berlin").isoformat(),
            "user_id": rec["user_id"],
            "merchant_id": rec["merchant_id"],
            "amount": float(rec["amount"]),
            "currency": rec["currency"],
            "latitude": float(rec["latitude"]),
            "longitude": float(rec["longitude"]),
        }
        row |= {k: rec[k] for k in OPTIONAL_FIELDS if isinstance(rec.get(k), str) and rec[k]}
        if "is_fraud" in rec and not pd.isna(rec["is_fraud"]):
            row["is_fraud"] = int(rec["is_fraud"])
            scenario = rec.get("fraud_scenario")
            row["fraud_scenario"] = "genuine" if pd.isna(scenario) or not scenario else scenario
        row |= {"ingest_ms": ingest, "feature_ms": ingest}
        row["features"] = {name: float(f[name]) for name in FEATURE_COLUMNS}
        rows.append(row)
    return rows


def train_artifact(
    data: Path, out: Path, detector: str = "card_tails", alert_rate: float = 0.02
) -> Path:
    """A real artifact: ``rtad train`` (rtad.ml.train) on a transaction file."""
    train(data, out, detector=detector, alert_rate=alert_rate, seed=0)
    return out


def packed_fields(
    row: dict[str, Any], feature_names: Sequence[str] = FEATURE_COLUMNS
) -> dict[bytes, bytes]:
    """A feature row as an entry of encoding 2 (what the Spark job writes), its features in
    the order of ``feature_names``."""
    head = {k: v for k, v in row.items() if k != "features"}
    values = [row["features"][name] for name in feature_names]
    return encode_feature_entry(head, values, feature_names)


def publish(client: redis.Redis, names: StreamNames, rows: Sequence[dict[str, Any]]) -> list[bytes]:
    """XADD every row to its card's feature shard as a feature entry of FEATURE_COLUMNS (its
    set registered); returns the entry IDs."""
    register_feature_set(client, names.prefix, FEATURE_COLUMNS)
    pipe = client.pipeline(transaction=False)
    for row in rows:
        pipe.xadd(names.for_user("features", row["user_id"]), packed_fields(row))  # type: ignore[arg-type]
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
