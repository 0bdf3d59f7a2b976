"""Test frames of transactions → what the Spark source hands the processor (packed records)."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import orjson
import pandas as pd

from rtad.common.feature_entry import encode_feature_entry, feature_matrix
from rtad.common.schema import Transaction, from_mapping
from rtad.streaming import packed_records


def frame_transactions(frame: pd.DataFrame) -> list[Transaction]:
    """Each row as a validated record (a naive timestamp is taken as UTC)."""
    stamps = pd.to_datetime(frame["timestamp"])
    if stamps.dt.tz is None:
        stamps = stamps.dt.tz_localize("UTC")
    rows = frame.assign(timestamp=stamps).to_dict("records")
    return [from_mapping({k: v for k, v in r.items() if not _missing(v)}) for r in rows]


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def packed(frame: pd.DataFrame, shard: int = 0) -> packed_records.Unpacked:
    """The frame's rows as the processor receives them (``ingest_ms`` from the frame)."""
    _, records = packed_records.pack(
        frame_transactions(frame), frame["ingest_ms"].to_numpy(np.int64), shard
    )
    return packed_records.unpack(records)


def heads(out: pd.DataFrame) -> list[dict]:
    """The processor's output heads as dicts."""
    return [orjson.loads(p) for p in out["payload"]]


def ids(out: pd.DataFrame) -> list[str]:
    return [h["transaction_id"] for h in heads(out)]


def reference_fields(
    tx: Transaction, ingest_ms: int, x: np.ndarray, names: tuple[str, ...], feature_ms: int
) -> dict[bytes, bytes]:
    """One transaction's feature entry in the format of the contract, built field by field in
    Python: the reference the tests hold the job's packed bytes to."""
    head: dict[str, Any] = msgspec.to_builtins(tx)
    head = {"event_time" if k == "timestamp" else k: v for k, v in head.items()}
    head |= {"ingest_ms": ingest_ms, "feature_ms": feature_ms}
    return encode_feature_entry(head, x, names)


def unpacked_features(column: Any, width: int) -> np.ndarray:
    """The matrix of a packed feature column (pandas or Arrow): the inverse of
    :func:`rtad.common.feature_entry.packed_features`, read as the scorer reads it."""
    values = column.tolist() if isinstance(column, pd.Series) else column.to_pylist()
    matrix = feature_matrix(values, width)
    assert matrix is not None, f"a packed row is not {width} doubles"
    return matrix
