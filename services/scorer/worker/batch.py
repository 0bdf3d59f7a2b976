"""One batch of feature entries → what to write per shard (pure: no Redis, no clock).

The worker reads entries of several shards at once, scores them with ONE ``model.score(X)``
and then commits each shard in one script of its own
(:mod:`rtad.scorer.worker.commit_script`). This module builds those per-shard outputs: score
and alert payloads, the IDs to acknowledge, the dead-letter entries with their reasons, and
the figures the metrics and stats need.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import attrgetter
from typing import TYPE_CHECKING

import numpy as np

from rtad.common.feature_entry import FeatureSets
from rtad.scorer.latency import N_BINS, bin_counts
from rtad.scorer.model_holder import ScoringModel
from rtad.scorer.scoring import EntryHead, ScoredMatrix, ScoreRecord, encode_record, score_matrix
from rtad.scorer.worker.decode import DeadLetter, ShardEntries, decode_entries

if TYPE_CHECKING:
    from rtad.scorer.worker.shadow import Shadow

GENUINE = "genuine"
NO_CODE = "none"  # the reason label of an alert the model gave no reason for
_ingest_ms = attrgetter("ingest_ms")
_label = attrgetter("fraud_scenario", "is_fraud")


@dataclass
class ShardOutput:
    """Everything one shard's commit script writes, and the figures counted with it."""

    shard: int
    scores: list[bytes] = field(default_factory=list)
    alerts: list[bytes] = field(default_factory=list)
    ack: list[bytes] = field(default_factory=list)
    #: ``(entry id, short code for the metric, one-line reason, original payload)``
    deadletters: list[DeadLetter] = field(default_factory=list)
    anomalies: int = 0
    #: the first reason code of each alert (``"none"`` when the model gave no reason)
    anomaly_codes: list[str] = field(default_factory=list)
    latency_counts: np.ndarray = field(default_factory=lambda: np.zeros(N_BINS, np.int64))
    latency_sum_s: float = 0.0
    labelled: Counter[tuple[str, bool]] = field(default_factory=Counter)
    #: further operations of the commit script (see ``commit_script``), and how many
    ops: list[bytes] = field(default_factory=list)
    op_count: int = 0

    def add_ops(self, ops: list[bytes]) -> None:
        """Append operations, each ``[argument count, arguments...]``, as built by ``op``."""
        i = 0
        while i < len(ops):
            i += 1 + int(ops[i])
            self.op_count += 1
        self.ops += ops

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
    left_pending: int = 0
    #: what the shadow step reads: the rows scored, and where each group's rows start/end
    rows: Sequence[EntryHead] = field(default_factory=list)
    bounds: list[int] = field(default_factory=list)
    challenger_scores: np.ndarray | None = None
    #: the version of each model role that scored the batch (``champion``, ``challenger``)
    model_versions: dict[str, str] = field(default_factory=dict)
    #: work the shadow stage does before the commit (the challenger's scores, .shadow)
    before_commit: list[Callable[[], None]] = field(default_factory=list)

    @property
    def scored(self) -> int:
        return sum(o.scored for o in self.shards.values())


@dataclass
class _Rows:
    """The rows still in the batch, in group order: entry IDs, and the group of each row."""

    rows: Sequence[EntryHead]
    ids: list[bytes]
    group: np.ndarray

    def keep(self, keep: np.ndarray) -> None:
        """Keep only the rows where ``keep`` is True (rare: after a model failure)."""
        self.rows = [r for r, k in zip(self.rows, keep.tolist(), strict=True) if k]
        self.ids = [e for e, k in zip(self.ids, keep.tolist(), strict=True) if k]
        self.group = self.group[keep]


def build_batch(
    groups: Sequence[ShardEntries],
    model: ScoringModel,
    now_ms: int,
    sets: FeatureSets,
    exhausted: Collection[tuple[int, bytes]] = (),
    exhausted_reason: str = "too many deliveries",
    shadow: Shadow | None = None,
) -> BatchResult:
    """Decode, score (one call) and lay out the per-shard writes of a batch.

    ``sets`` resolves the feature sets of entries of encoding 2. ``exhausted`` entries
    (delivered too often) go straight to the dead-letter stream. Rows the model fails on are
    neither acknowledged nor dead-lettered: they stay pending, are claimed again, and are
    dead-lettered once they exceed the delivery limit. ``shadow`` adds the alert budget's
    thresholds, the challenger's scores and the quality index (:mod:`.shadow`).
    """
    outputs = {shard: ShardOutput(shard) for shard, _ in groups}
    names = tuple(model.feature_names)
    decoded = decode_entries(groups, names, sets, exhausted, exhausted_reason)
    for shard, dead in decoded.dead.items():
        outputs[shard].deadletters += dead
    batch = _Rows(decoded.rows, decoded.ids, np.repeat(np.arange(len(groups)), decoded.counts))
    X = decoded.X
    shards = np.array([shard for shard, _ in groups], dtype=np.int64)[batch.group]
    limits = shadow.thresholds(model, shards) if shadow is not None else None
    scored = score_matrix(model, X, thresholds=limits)
    left_pending = len(scored.failed)
    if scored.failed:  # left pending: claimed again later, dead-lettered after N deliveries
        ok = np.ones(len(X), dtype=bool)
        ok[list(scored.failed)] = False
        batch.keep(ok)
        X, scored = X[ok], _subset(scored, ok)
        limits = limits[ok] if limits is not None else None
    result = _lay_out(groups, outputs, batch, X, scored, model, now_ms, limits)
    result.left_pending = left_pending
    if shadow is not None:
        shadow.extend(groups, result, scored.is_anomaly, model, now_ms)
    return result


def _subset(scored: ScoredMatrix, keep: np.ndarray) -> ScoredMatrix:
    reasons = [r for r, k in zip(scored.reasons, keep.tolist(), strict=True) if k]
    return ScoredMatrix(scored.scores[keep], scored.is_anomaly[keep], reasons)


def _lay_out(
    groups: Sequence[ShardEntries],
    outputs: dict[int, ShardOutput],
    batch: _Rows,
    X: np.ndarray,
    scored: ScoredMatrix,
    model: ScoringModel,
    now_ms: int,
    limits: np.ndarray | None = None,
) -> BatchResult:
    """Per-shard lists by slicing: a group's rows are contiguous in the batch."""
    rows, ids = batch.rows, batch.ids
    payloads = _score_payloads(rows, scored, model, now_ms, limits)
    ingest = np.fromiter(map(_ingest_ms, rows), dtype=np.int64, count=len(rows))
    latencies = np.maximum(now_ms - ingest, 0) / 1000.0
    anomalous = np.flatnonzero(scored.is_anomaly)
    reasons = scored.reasons
    bounds = np.r_[0, np.cumsum(np.bincount(batch.group, minlength=len(groups)))].tolist()
    for g, (shard, _entries) in enumerate(groups):
        start, end = bounds[g], bounds[g + 1]
        if start == end:
            continue
        out = outputs[shard]
        out.scores += payloads[start:end]
        out.ack += ids[start:end]
        alerts = anomalous[(anomalous >= start) & (anomalous < end)].tolist()
        out.alerts += [payloads[i] for i in alerts]
        out.anomalies += len(alerts)
        out.anomaly_codes += [reasons[i][0]["code"] if reasons[i] else NO_CODE for i in alerts]
        out.labelled.update(_labelled(rows[start:end], [rows[i] for i in alerts]))
        out.latency_counts = out.latency_counts + bin_counts(latencies[start:end])
        out.latency_sum_s += float(latencies[start:end].sum())
    return BatchResult(
        shards=outputs,
        X=X,
        scores=scored.scores,
        latencies_s=latencies,
        rows=rows,
        bounds=bounds,
    )


def _score_payloads(
    rows: Sequence[EntryHead],
    scored: ScoredMatrix,
    model: ScoringModel,
    now_ms: int,
    limits: np.ndarray | None = None,
) -> list[bytes]:
    """The JSON of every score entry: a C-level struct and encoder per row, nothing else.

    Positional arguments: the order of ScoreRecord's fields.
    """
    fixed = float(model.threshold)
    thresholds = repeat(fixed) if limits is None else limits.tolist()
    version = model.version
    return [
        encode_record(
            ScoreRecord(
                r.transaction_id,
                r.user_id,
                score,
                flag,
                threshold,
                version,
                reasons,
                r.event_time,
                r.ingest_ms,
                now_ms,
                r.amount,
                r.merchant_id,
                r.is_fraud,
                r.fraud_scenario,
            )
        )
        for r, score, flag, reasons, threshold in zip(
            rows,
            scored.scores.tolist(),
            scored.is_anomaly.tolist(),
            scored.reasons,
            thresholds,
            strict=False,  # the fixed threshold repeats without end
        )
    ]


def _labelled(rows: Sequence[EntryHead], flagged: list[EntryHead]) -> Counter[tuple[str, bool]]:
    """``{(scenario, flagged): n}`` of the labelled rows.

    Counted in C: ``(scenario, is_fraud)`` of every row, and of the flagged ones (few) apart.
    """
    everyone = Counter(map(_label, rows))
    hits = Counter(map(_label, flagged))
    out: Counter[tuple[str, bool]] = Counter()
    for (scenario, fraud), n in everyone.items():
        if fraud is None:
            continue
        name = scenario or (GENUINE if fraud == 0 else "unknown")
        hit = hits[(scenario, fraud)]
        if hit:
            out[(name, True)] += hit
        if n > hit:
            out[(name, False)] += n - hit
    return out
