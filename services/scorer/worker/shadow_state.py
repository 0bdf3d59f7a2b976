"""The worker's long-lived shadow state: alert budget, quality index, label consumer.

:class:`ShadowState` builds one :class:`~rtad.scorer.worker.shadow.Shadow` a batch (with the
challenger of that batch's model pair), reads the budget's thresholds back after each commit
(on the commit thread, off the scoring path) and lets the label consumer work between batches.
"""

from __future__ import annotations

import logging
import time

import redis

from rtad.common.resp import exchange_all, pooled_connection
from rtad.scorer import metrics
from rtad.scorer.alert_budget import AlertBudget, BudgetShape
from rtad.scorer.model_holder import ModelHolder, ScoringModel
from rtad.scorer.promotion import follow_roles
from rtad.scorer.quality_store import retention_s
from rtad.scorer.settings import ScorerSettings
from rtad.scorer.worker.batch import BatchResult
from rtad.scorer.worker.label_consumer import LabelConsumer
from rtad.scorer.worker.shadow import QualityIndex, Shadow

log = logging.getLogger(__name__)

ROLES_CHECK_S = 2.0


class ShadowState:
    """What outlives a batch: see the module docstring."""

    def __init__(self, client: redis.Redis, settings: ScorerSettings, holder: ModelHolder) -> None:
        self.client = client
        self.names = settings.streams
        self.holder = holder
        shape = BudgetShape(settings.alert_budget_per_hour, self.names.shards,
                            settings.alert_budget_window_s)  # fmt: skip
        self.budget = AlertBudget(self.names, shape, enabled=settings.alert_mode == "budget")
        metrics.ALERT_BUDGET.set(settings.alert_budget_per_hour if self.budget.enabled else 0)
        self.index: QualityIndex | None = None
        self.labels: LabelConsumer | None = None
        if settings.quality_enabled:
            self.index = QualityIndex(self.names, retention_s(settings.quality_retention_days))
            self.labels = LabelConsumer(client, settings, holder.roles)
        self._next_roles_check = 0.0

    def for_batch(self, challenger: ScoringModel | None) -> Shadow:
        return Shadow(self.names, self.budget, self.index, challenger)

    def poll_labels(self) -> None:
        """Follow promotions, let the label consumer read and refresh; their failures never
        stop the scoring."""
        now = time.monotonic()
        try:
            if now >= self._next_roles_check:
                self._next_roles_check = now + ROLES_CHECK_S
                follow_roles(self.client, self.names, self.holder)
            if self.labels is not None:
                self.labels.poll()
        except (redis.ConnectionError, redis.TimeoutError):
            raise
        except Exception:  # a verdict must never take the scorer down
            log.exception("label consumer or promotion check failed; retrying at its next poll")

    def after_commit(self, result: BatchResult) -> None:
        """Read the thresholds of the shards just committed; export them. A failed read
        keeps the thresholds read before (the commit itself is done)."""
        try:
            self._read_thresholds(result)
        except redis.RedisError as exc:
            log.warning("alert budget not read after a commit: %s", exc)

    def _read_thresholds(self, result: BatchResult) -> None:
        roles = result.model_versions
        versions = list(roles.values())
        due = {s: self.budget.read_command(s, versions) for s in result.shards}
        commands = [c for c in due.values() if c is not None]
        shards = [s for s, c in due.items() if c is not None]
        if shards:
            with pooled_connection(self.client) as conn:
                replies = exchange_all(conn, [b"".join(commands)], len(commands))
            for shard, reply in zip(shards, replies, strict=True):
                if isinstance(reply, Exception):
                    log.warning("alert budget of shard %d not read: %s", shard, reply)
                    continue
                self.budget.apply(shard, versions, reply)
        for role, version in roles.items():
            for shard in result.shards:
                fixed = self._fixed(role)
                value = self.budget.threshold(version, fixed, shard)
                metrics.ALERT_THRESHOLD.labels(model=role, shard=str(shard)).set(value)

    def _fixed(self, role: str) -> float:
        champion, challenger = self.holder.models
        model = champion if role == "champion" or challenger is None else challenger
        return float(model.threshold)
