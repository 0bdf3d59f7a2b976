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

from rtad.common.encoding import (
    DATA_FIELD,
    ENCODING_VERSION,
    VERSION_FIELD,
    UndecodableEntry,
    original_payload,
    payload_of,
)
from rtad.scorer.latency import N_BINS, bin_counts
from rtad.scorer.model_holder import ScoringModel
from rtad.scorer.scoring import (
    FeatureRow,
    ScoredMatrix,
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
    """The entry as it was, for the dead-letter stream (raw replies are flat field lists)."""
    return original_payload(_as_mapping(fields))


def _as_mapping(fields: Any) -> dict[Any, Any]:
    if isinstance(fields, dict):
        return fields
    if isinstance(fields, list | tuple):
        return dict(zip(fields[::2], fields[1::2], strict=False))
    return {}


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
    ids: list[bytes] = []
    originals: list[bytes] = []
    counts: list[int] = []
    for shard, entries in groups:
        decoded = _decode_group(
            shard, entries, decoder, outputs[shard], exhausted, exhausted_reason
        )
        rows += decoded[0]
        ids += decoded[1]
        originals += decoded[2]
        counts.append(len(decoded[0]))
    shard_of_row = np.repeat(np.array([shard for shard, _ in groups], dtype=np.int64), counts)
    X, bad = rows_matrix(rows, names)
    if bad:
        for i, reason in bad.items():
            outputs[int(shard_of_row[i])].deadletters.append(
                (ids[i], INVALID_FEATURES, reason, originals[i])
            )
        keep = np.ones(len(rows), dtype=bool)
        keep[list(bad)] = False
        rows = [r for i, r in enumerate(rows) if keep[i]]
        ids = [e for i, e in enumerate(ids) if keep[i]]
        shard_of_row = shard_of_row[keep]
    return _lay_out(outputs, rows, ids, shard_of_row, X, model, now_ms)


def _decode_group(
    shard: int,
    entries: Sequence[RawEntry],
    decoder: Any,
    out: ShardOutput,
    exhausted: Collection[tuple[int, bytes]],
    exhausted_reason: str,
) -> tuple[list[FeatureRow], list[bytes], list[bytes]]:
    """Rows, entry IDs and payloads of one shard's entries; the bad ones go to ``out``.

    Fast path: two list comprehensions over the whole group; only a group holding a bad
    entry (or an exhausted one) is walked entry by entry to dead-letter it.
    """
    if not exhausted:
        try:
            payloads = [payload_from_fields(fields) for _id, fields in entries]
            return [decoder.decode(p) for p in payloads], [e[0] for e in entries], payloads
        except ValueError:  # UndecodableEntry and msgspec's errors are ValueErrors
            pass
    rows, ids, originals = [], [], []
    for entry_id, fields in entries:
        if (shard, entry_id) in exhausted:
            dead = (entry_id, MAX_DELIVERIES, exhausted_reason, original_bytes(fields))
            out.deadletters.append(dead)
            continue
        try:
            payload = payload_from_fields(fields)
        except UndecodableEntry as exc:
            out.deadletters.append((entry_id, UNDECODABLE, str(exc), original_bytes(fields)))
            continue
        try:
            rows.append(decode_row(payload, decoder))
        except ValueError as exc:
            out.deadletters.append((entry_id, INVALID_ROW, str(exc), payload))
            continue
        ids.append(entry_id)
        originals.append(payload)
    return rows, ids, originals


def _lay_out(
    outputs: dict[int, ShardOutput],
    rows: list[FeatureRow],
    ids: list[bytes],
    shard_of_row: np.ndarray,
    X: np.ndarray,
    model: ScoringModel,
    now_ms: int,
) -> BatchResult:
    scored = score_matrix(model, X)
    payloads = _score_payloads(rows, scored, model, now_ms)
    flags = scored.is_anomaly.tolist()
    ok = np.ones(len(rows), dtype=bool)
    ok[list(scored.failed)] = False
    ingest = np.array([r.ingest_ms for r in rows], dtype=np.int64)
    latencies = np.maximum(now_ms - ingest, 0) / 1000.0
    for shard, out in outputs.items():
        index = np.flatnonzero(ok & (shard_of_row == shard)).tolist()
        out.scores = [payloads[i] for i in index]
        out.ack = [ids[i] for i in index]
        alerts = [i for i in index if flags[i]]
        out.alerts = [payloads[i] for i in alerts]
        out.anomalies = len(alerts)
        out.labelled = _labelled(
            [rows[i].fraud_scenario for i in index],
            [rows[i].is_fraud for i in index],
            [flags[i] for i in index],
        )
        if index:
            out.latency_counts = bin_counts(latencies[index])
    reasons = scored.reasons
    anomalous = np.flatnonzero(ok & scored.is_anomaly).tolist()
    return BatchResult(
        shards=outputs,
        X=X[ok],
        scores=scored.scores[ok],
        latencies_s=latencies[ok],
        anomaly_codes=[reasons[i][0]["code"] if reasons[i] else "none" for i in anomalous],
        left_pending=len(scored.failed),
    )


def _score_payloads(
    rows: list[FeatureRow], scored: ScoredMatrix, model: ScoringModel, now_ms: int
) -> list[bytes]:
    """The JSON of every score entry: a C-level struct and encoder per row, nothing else.

    Positional arguments: the order of ScoreRecord's fields.
    """
    scores = scored.scores.tolist()
    flags = scored.is_anomaly.tolist()
    reasons = scored.reasons
    threshold = float(model.threshold)
    version = model.version
    return [
        encode_record(
            ScoreRecord(
                r.transaction_id,
                r.user_id,
                scores[i],
                flags[i],
                threshold,
                version,
                reasons[i],
                r.event_time,
                r.ingest_ms,
                now_ms,
                r.amount,
                r.merchant_id,
                r.is_fraud,
                r.fraud_scenario,
            )
        )
        for i, r in enumerate(rows)
    ]


def _labelled(
    scenarios: list[str | None], frauds: list[int | None], flags: list[bool]
) -> Counter[tuple[str, bool]]:
    """``{(scenario, flagged): n}`` of the labelled rows (Counter over zip: counted in C)."""
    out: Counter[tuple[str, bool]] = Counter()
    for (scenario, fraud, flag), n in Counter(zip(scenarios, frauds, flags, strict=True)).items():
        if fraud is not None:
            out[(scenario or (GENUINE if fraud == 0 else "unknown"), flag)] += n
    return out
