"""One batch of feature entries → what to write per shard (pure: no Redis, no clock).

The worker reads entries of several shards at once, scores them with ONE ``model.score(X)``
and then commits each shard in its own MULTI/EXEC (:mod:`rtad.scorer.commit`). This module
builds those per-shard outputs: score and alert payloads, the IDs to acknowledge, the
dead-letter entries with their reasons, and the figures the metrics and stats need.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from rtad.common.encoding import (
    DATA_FIELD,
    ENCODING_VERSION,
    VERSION_FIELD,
    UndecodableEntry,
    payload_of,
)
from rtad.scorer.latency import N_BINS, bin_counts
from rtad.scorer.model_holder import ScoringModel
from rtad.scorer.scoring import (
    FeatureRow,
    ScoreRecord,
    decode_row,
    encode_record,
    row_decoder,
    rows_matrix,
    score_matrix,
)

#: ``(entry id, fields)``; fields as XREADGROUP returns them raw (a flat list) or as a dict.
RawEntry = tuple[bytes, Any]
ShardEntries = tuple[int, Sequence[RawEntry]]
GENUINE = "genuine"
# Dead-letter reason codes (the label of rtad_scorer_deadletter_total).
UNDECODABLE = "undecodable"
INVALID_ROW = "invalid_row"
INVALID_FEATURES = "invalid_features"
MAX_DELIVERIES = "max_deliveries"


@dataclass
class ShardOutput:
    """Everything one shard's MULTI/EXEC writes, and the figures counted with it."""

    shard: int
    scores: list[bytes] = field(default_factory=list)
    alerts: list[bytes] = field(default_factory=list)
    ack: list[bytes] = field(default_factory=list)
    #: ``(entry id, short code for the metric, one-line reason, original payload)``
    deadletters: list[tuple[bytes, str, str, bytes]] = field(default_factory=list)
    anomalies: int = 0
    latency_counts: np.ndarray = field(default_factory=lambda: np.zeros(N_BINS, np.int64))
    labelled: Counter[tuple[str, bool]] = field(default_factory=Counter)

    @property
    def scored(self) -> int:
        return len(self.scores)


@dataclass
class BatchResult:
    """Per-shard outputs plus batch-wide arrays for metrics and drift."""

    shards: dict[int, ShardOutput]
    X: np.ndarray
    scores: np.ndarray
    latencies_s: np.ndarray
    anomaly_codes: list[str]
    left_pending: int = 0

    @property
    def scored(self) -> int:
        return sum(o.scored for o in self.shards.values())


def payload_from_fields(fields: Any) -> bytes:
    """The JSON payload of a raw entry (fast path for the usual ``[v, 1, d, json]``)."""
    if (
        isinstance(fields, list)
        and len(fields) == 4
        and fields[0] == VERSION_FIELD
        and fields[1] == ENCODING_VERSION
        and fields[2] == DATA_FIELD
    ):
        return fields[3]  # type: ignore[no-any-return]
    return payload_of(_as_mapping(fields))


def original_bytes(fields: Any) -> bytes:
    """The entry as it was, for the dead-letter stream: its ``d`` field, or all its fields."""
    mapping = _as_mapping(fields)
    data = mapping.get(DATA_FIELD)
    if isinstance(data, bytes):
        return data
    text = {_text(k): _text(v) for k, v in mapping.items()}
    return orjson.dumps(text)


def _as_mapping(fields: Any) -> dict[Any, Any]:
    if isinstance(fields, dict):
        return fields
    if isinstance(fields, list | tuple):
        return dict(zip(fields[::2], fields[1::2], strict=False))
    return {}


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def build_batch(
    groups: Sequence[ShardEntries],
    model: ScoringModel,
    now_ms: int,
    exhausted: Collection[tuple[int, bytes]] = (),
    exhausted_reason: str = "too many deliveries",
) -> BatchResult:
    """Decode, score (one call) and lay out the per-shard writes of a batch.

    ``exhausted`` entries (delivered too often) go straight to the dead-letter stream. Rows the
    model fails on are neither acknowledged nor dead-lettered: they stay pending, are claimed
    again, and are dead-lettered once they exceed the delivery limit.
    """
    outputs = {shard: ShardOutput(shard) for shard, _ in groups}
    names = tuple(model.feature_names)
    decoder = row_decoder(names)
    rows: list[FeatureRow] = []
    owners: list[tuple[int, bytes]] = []
    originals: list[bytes] = []
    for shard, entries in groups:
        out = outputs[shard]
        for entry_id, fields in entries:
            if (shard, entry_id) in exhausted:
                out.deadletters.append(
                    (entry_id, MAX_DELIVERIES, exhausted_reason, original_bytes(fields))
                )
                continue
            try:
                payload = payload_from_fields(fields)
                rows.append(decode_row(payload, decoder))
                originals.append(payload)
            except UndecodableEntry as exc:
                out.deadletters.append((entry_id, UNDECODABLE, str(exc), original_bytes(fields)))
                continue
            except ValueError as exc:
                out.deadletters.append((entry_id, INVALID_ROW, str(exc), payload))
                continue
            owners.append((shard, entry_id))
    X, bad = rows_matrix(rows, names)
    for i, reason in bad.items():
        shard, entry_id = owners[i]
        outputs[shard].deadletters.append((entry_id, INVALID_FEATURES, reason, originals[i]))
    if bad:
        rows = [r for i, r in enumerate(rows) if i not in bad]
        owners = [o for i, o in enumerate(owners) if i not in bad]
    return _lay_out(outputs, rows, owners, X, model, now_ms)


def _lay_out(
    outputs: dict[int, ShardOutput],
    rows: list[FeatureRow],
    owners: list[tuple[int, bytes]],
    X: np.ndarray,
    model: ScoringModel,
    now_ms: int,
) -> BatchResult:
    scored = score_matrix(model, X)
    scores = scored.scores.tolist()
    flags = scored.is_anomaly.tolist()
    threshold = float(model.threshold)
    version = model.version
    ingest = np.fromiter((r.ingest_ms for r in rows), dtype=np.int64, count=len(rows))
    latencies = np.maximum(now_ms - ingest, 0) / 1000.0
    ok = np.ones(len(rows), dtype=bool)
    codes: list[str] = []
    for i, row in enumerate(rows):
        shard, entry_id = owners[i]
        out = outputs[shard]
        if i in scored.failed:
            ok[i] = False
            continue
        anomalous = flags[i]
        record = ScoreRecord(
            transaction_id=row.transaction_id,
            user_id=row.user_id,
            score=scores[i],
            is_anomaly=anomalous,
            threshold=threshold,
            model_version=version,
            reasons=scored.reasons[i],
            event_time=row.event_time,
            ingest_ms=row.ingest_ms,
            scored_ms=now_ms,
            amount=row.amount,
            merchant_id=row.merchant_id,
            is_fraud=row.is_fraud,
            fraud_scenario=row.fraud_scenario,
        )
        payload = encode_record(record)
        out.scores.append(payload)
        out.ack.append(entry_id)
        if anomalous:
            out.alerts.append(payload)
            out.anomalies += 1
            codes.append(scored.reasons[i][0]["code"] if scored.reasons[i] else "none")
        if row.is_fraud is not None:
            scenario = row.fraud_scenario or (GENUINE if row.is_fraud == 0 else "unknown")
            out.labelled[(scenario, anomalous)] += 1
    _add_latency_counts(outputs, owners, latencies, ok)
    return BatchResult(
        shards=outputs,
        X=X[ok],
        scores=scored.scores[ok],
        latencies_s=latencies[ok],
        anomaly_codes=codes,
        left_pending=len(scored.failed),
    )


def _add_latency_counts(
    outputs: dict[int, ShardOutput],
    owners: list[tuple[int, bytes]],
    latencies: np.ndarray,
    ok: np.ndarray,
) -> None:
    if not len(owners):
        return
    shard_of_row = np.fromiter((s for s, _ in owners), dtype=np.int64, count=len(owners))
    for shard, out in outputs.items():
        mask = ok & (shard_of_row == shard)
        if mask.any():
            out.latency_counts = bin_counts(latencies[mask])
