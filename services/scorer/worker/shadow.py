"""What a batch commits beside the champion's scores: budget, challenger, quality index.

:func:`rtad.scorer.worker.batch.build_batch` asks a :class:`Shadow` for the champion's
thresholds (the alert budget's, per shard) before it scores, and hands it the scored batch
afterwards; the shadow then adds operations to each shard's commit script
(:mod:`rtad.scorer.worker.commit_script`), so they commit atomically with the scores:

- the challenger's score of every row, to ``<prefix>:challenger-scores:{s}`` (never an
  alert), with the alert it would have raised at the same budget;
- the top scores of each model for the budget's window (:mod:`rtad.scorer.alert_budget`);
- the alerts of each model in the quality index, and the shard's scored watermark
  (:mod:`rtad.scorer.quality_store`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np

from rtad.common.streams import StreamNames
from rtad.scorer import metrics
from rtad.scorer.alert_budget import AlertBudget, event_ms, event_ms_array, op
from rtad.scorer.model_holder import ScoringModel
from rtad.scorer.quality import AlertRecord
from rtad.scorer.quality_store import alert_ops, watermark_op
from rtad.scorer.worker.batch import BatchResult
from rtad.scorer.worker.decode import ShardEntries

log = logging.getLogger(__name__)

_tx = attrgetter("transaction_id")
_event = attrgetter("event_time")
_ingest = attrgetter("ingest_ms")
_user = attrgetter("user_id")


class ChallengerScores(msgspec.Struct, gc=False):
    """One entry of ``<prefix>:challenger-scores:{s}``: a shard's batch, column by column.

    Encoding 1 (``v`` = ``1``, ``d`` = this as compact JSON). One entry a shard and batch
    rather than one a transaction: the shadow's scores then cost Redis one append, not one
    per row. Row ``i`` of every list is one scored transaction; ``would_alert`` says whether
    the challenger would have alerted at ``threshold`` (its own, at the same budget).
    """

    model_version: str
    threshold: float
    scored_ms: int
    transaction_id: list[str]
    user_id: list[str]
    event_time: list[str]
    score: list[float]
    would_alert: list[bool]


_encoder = msgspec.json.Encoder()
_thread_state = threading.local()


def _one_openmp_thread() -> None:
    """OpenMP's thread count is per calling thread: the shadow stage's thread sets its own once
    (as :func:`rtad.scorer.worker.loop.tune_process` does for the main thread)."""
    if not getattr(_thread_state, "limited", False):
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="openmp")
        _thread_state.limited = True


@dataclass
class QualityIndex:
    """Where the alerts go for live quality, and how long they stay."""

    names: StreamNames
    ttl_s: int


@dataclass
class Shadow:
    """One batch's shadow work; ``challenger`` is the pair's second model (or None)."""

    names: StreamNames
    budget: AlertBudget
    index: QualityIndex | None = None
    challenger: ScoringModel | None = None
    challenger_failures: int = 0

    def thresholds(self, model: ScoringModel, shards: np.ndarray) -> np.ndarray | None:
        if not self.budget.enabled:
            return None
        return self.budget.row_thresholds(model.version, float(model.threshold), shards)

    def extend(
        self,
        groups: list[ShardEntries] | Any,
        result: BatchResult,
        is_anomaly: np.ndarray,
        champion: ScoringModel,
        now_ms: int,
    ) -> None:
        """Add the shadow operations of every shard of a scored batch to its output."""
        result.model_versions["champion"] = champion.version
        if self.challenger is not None:
            result.model_versions["challenger"] = self.challenger.version
        rows = result.rows
        if not rows:
            return
        txs = list(map(_tx, rows))
        times = list(map(_event, rows))
        # parsed once for both models' budget windows (the challenger's on the shadow stage)
        when = event_ms_array(times) if self.budget.enabled else None
        parts = self._parts(groups, result.bounds)
        for shard, part in parts:
            ops = self._model_ops(champion, shard, result.scores[part], is_anomaly[part],
                                  rows[part], txs[part], _part(when, part), now_ms)  # fmt: skip
            if self.index is not None:
                ops += watermark_op(self.index.names, shard, max(map(_ingest, rows[part])))
            result.shards[shard].add_ops(ops)
        if self.challenger is not None:
            # Scored by the shadow stage, while the next batch is decoded and scored here
            # (the model's own code releases the GIL): the same entries, the same commit.
            def challenge() -> None:
                _one_openmp_thread()
                other = self._challenger_scores(champion, result.X, result.scores)
                result.challenger_scores = other
                if other is None:
                    return
                for shard, part in parts:
                    ops = self._challenger_ops(shard, other[part], rows[part], txs[part],
                                               times[part], _part(when, part), now_ms)  # fmt: skip
                    result.shards[shard].add_ops(ops)

            result.before_commit.append(challenge)

    @staticmethod
    def _parts(groups: Any, bounds: list[int]) -> list[tuple[int, slice]]:
        """``(shard, its rows' slice)`` of every group with rows."""
        return [
            (shard, slice(bounds[g], bounds[g + 1]))
            for g, (shard, _entries) in enumerate(groups)
            if bounds[g] < bounds[g + 1]
        ]

    def _challenger_scores(
        self, champion: ScoringModel, X: np.ndarray, champion_scores: np.ndarray
    ) -> np.ndarray | None:
        """The challenger's scores of the batch, its columns in its own order (None if it
        failed: the champion's commit never waits on the shadow). A challenger built on this
        champion takes the champion's scores as they are, instead of scoring it again."""
        model = self.challenger
        if model is None or len(X) == 0:
            return None
        order = [champion.feature_names.index(name) for name in model.feature_names]
        try:
            mine = model.score_beside(X[:, order], champion.version, champion_scores)
            scores = np.asarray(mine, dtype=np.float64).reshape(len(X))
        except Exception as exc:  # a shadow model must never stop the champion
            self.challenger_failures += 1
            metrics.CHALLENGER_FAILURES.inc()
            log.warning("challenger failed on a batch (%s): no shadow scores for it", exc)
            return None
        return np.nan_to_num(scores, nan=-np.inf)

    def _challenger_ops(
        self,
        shard: int,
        scores: np.ndarray,
        rows: Sequence[Any],
        txs: list[str],
        times: list[str],
        when: np.ndarray | None,
        now_ms: int,
    ) -> list[bytes]:
        model = self.challenger
        assert model is not None
        fixed = float(model.threshold)
        limit = self.budget.threshold(model.version, fixed, shard)
        would = scores >= limit
        key = self.names.key("challenger-scores", shard).encode()
        entry = ChallengerScores(
            model.version,
            limit,
            now_ms,
            txs,
            list(map(_user, rows)),
            times,
            np.maximum(scores, -1e308).tolist(),
            would.tolist(),
        )
        ops = op(b"XADD", key, b"*", b"v", b"1", b"d", _encoder.encode(entry))
        return ops + self._model_ops(model, shard, scores, would, rows, txs, when, now_ms)

    def _model_ops(
        self,
        model: ScoringModel,
        shard: int,
        scores: np.ndarray,
        alerted: np.ndarray,
        rows: Sequence[Any],
        txs: list[str],
        when: np.ndarray | None,
        now_ms: int,
    ) -> list[bytes]:
        """The budget window's and the quality index's operations of one model on a shard
        (``when``: the rows' event ms, None when the budget is off)."""
        ops: list[bytes] = []
        if when is not None:
            is_champion = model is not self.challenger  # transactions are counted once
            ops = self.budget.window_ops(
                model.version, shard, scores, txs, when, is_champion, alerted
            )
        if self.index is None:
            return ops
        alerts = [
            (
                txs[i],
                AlertRecord(
                    event_ms(rows[i].event_time),
                    rows[i].user_id,
                    float(scores[i]),
                    rows[i].fraud_scenario if rows[i].is_fraud else None,
                ),
            )
            for i in np.flatnonzero(alerted).tolist()
        ]
        ops += alert_ops(self.index.names, model.version, shard, alerts, now_ms, self.index.ttl_s)
        return ops


def _part(when: np.ndarray | None, part: slice) -> np.ndarray | None:
    return when[part] if when is not None else None
