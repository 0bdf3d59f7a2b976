"""The label consumer: verdicts from the labels streams into the quality index, figures out.

Consumer group ``quality`` on ``<prefix>:labels:{s}`` (every replica's worker is one consumer:
each verdict is handled by one of them). Per shard, one script keeps the latest verdict of
each transaction and acknowledges the entries (:data:`~rtad.scorer.quality_store.VERDICT_SCRIPT`):
a duplicate verdict replaces the one it follows, an older one is counted and dropped, so the
latest counts, once. An entry that is not a valid label is dead-lettered with its reason and
acknowledged. A verdict on a transaction nobody alerted is kept (it still counts for recall,
and training reads the stream itself); one whose transaction is not scored yet is held by the
figures until it is (:func:`rtad.scorer.quality.split_held`).

Every ``quality_interval_s`` the consumer computes the figures from Redis
(:func:`rtad.scorer.quality_store.collect`) and exports them as gauges; once an hour it
forgets what is older than the retention.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import redis

from rtad.common.encoding import deadletter_fields
from rtad.common.labels import STAGE, InvalidLabel, Label, decode_label_entry
from rtad.common.redis_streams import GroupReader
from rtad.common.resp import exchange_all, pack_command, pooled_connection
from rtad.common.streams import QUALITY_GROUP
from rtad.scorer import metrics
from rtad.scorer.quality_store import (
    VERDICT_SCRIPT,
    QualityReport,
    collect,
    prune,
    retention_s,
)
from rtad.scorer.settings import ScorerSettings

log = logging.getLogger(__name__)

READ_COUNT = 1000
POLL_S = 0.5
CLAIM_S = 30.0
PRUNE_S = 3600.0
OUTCOMES = ("new", "replaced", "superseded")


class LabelConsumer:
    """Call :meth:`poll` from the worker loop; it reads, stores and refreshes when due."""

    def __init__(
        self,
        client: redis.Redis,
        settings: ScorerSettings,
        versions: Callable[[], Mapping[str, str]],
    ) -> None:
        self.client = client
        self.settings = settings
        self.names = settings.streams
        self.versions = versions
        self.reader = GroupReader(
            client, settings.streams, "labels", QUALITY_GROUP, settings.consumer_name
        )
        self.report: QualityReport | None = None
        self._due = {"read": 0.0, "claim": 0.0, "refresh": 0.0, "prune": 0.0}

    def poll(self) -> int:
        """Read what is due; returns the verdicts stored by this call."""
        now = time.monotonic()
        stored = 0
        if now >= self._due["read"]:
            stored += self.consume(self.reader.read(READ_COUNT, None))
            self._due["read"] = now + POLL_S
        if now >= self._due["claim"]:
            idle = self.settings.claim_idle_ms
            stored += self.consume(self.reader.claim_stale(idle, READ_COUNT))
            self._due["claim"] = now + CLAIM_S
        if now >= self._due["refresh"]:
            self.refresh()
            self._due["refresh"] = now + self.settings.quality_interval_s
        if now >= self._due["prune"]:
            keep = retention_s(self.settings.quality_retention_days)
            prune(self.client, self.names, list(self.versions().values()), keep)
            self._due["prune"] = now + PRUNE_S
        return stored

    def consume(self, entries: Mapping[str, list[Any]]) -> int:
        """Store the verdicts of ``{labels key: [(id, fields), ...]}``; acknowledge them all."""
        commands: list[bytes] = []
        now_ms = int(time.time() * 1000)
        names = self.settings.streams
        for key, shard_entries in entries.items():
            shard = names.shard_from_key(key)
            triples: list[bytes] = []
            ids: list[bytes] = []
            for entry_id, fields in shard_entries:
                ids.append(entry_id if isinstance(entry_id, bytes) else entry_id.encode())
                try:
                    label = decode_label_entry(entry_id, fields)
                except InvalidLabel as exc:
                    self._dead_letter(shard, ids[-1], str(exc), fields)
                    continue
                triples += _triple(label, ids[-1])
            head = [key.encode(), self.names.quality_verdicts_key(shard).encode()]
            head.append(self.names.quality_verdict_age_key(shard).encode())
            args = [QUALITY_GROUP.encode(), b"%d" % now_ms, b"%d" % (len(triples) // 3)]
            commands.append(
                pack_command(b"EVAL", VERDICT_SCRIPT.encode(), b"3", *head, *args, *triples, *ids)
            )
        if not commands:
            return 0
        with pooled_connection(self.client) as conn:
            replies = exchange_all(conn, [b"".join(commands)], len(commands))
        stored = 0
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
            for outcome, n in zip(OUTCOMES, reply, strict=True):
                metrics.QUALITY_VERDICTS.labels(outcome=outcome).inc(int(n))
            stored += int(reply[0]) + int(reply[1])
        return stored

    def refresh(self) -> QualityReport:
        """Compute the figures from Redis and export them as gauges."""
        s = self.settings
        report = collect(
            self.client, self.names, self.versions(), k=s.quality_k, days=s.quality_days,
            hold_s=s.label_hold_s,
        )  # fmt: skip
        export(report)
        self.report = report
        return report

    def _dead_letter(self, shard: int, entry_id: bytes, reason: str, fields: Any) -> None:
        raw = fields.get(b"d", fields.get("d", b"")) if hasattr(fields, "get") else b""
        key = self.settings.streams.key("labels", shard)
        dead = deadletter_fields(reason, STAGE, raw or b"", f"{key}/{entry_id.decode()}")
        self.client.xadd(self.settings.streams.key("deadletter", shard), dead)  # type: ignore[arg-type]
        metrics.QUALITY_VERDICTS.labels(outcome="invalid").inc()


def _triple(label: Label, entry_id: bytes) -> list[bytes]:
    """(transaction, given ms, stored JSON) of a label; arrival = its entry's time."""
    arrival = int(entry_id.partition(b"-")[0])
    given = label.given_at
    given_ms = int(given.timestamp() * 1000) if given is not None else arrival
    stored = {"user_id": label.user_id, "verdict": label.verdict, "source": label.source}
    stored["arrival_ms"] = arrival  # type: ignore[assignment]
    return [label.transaction_id.encode(), b"%d" % given_ms, orjson.dumps(stored)]


def export(report: QualityReport) -> None:
    """Set the quality gauges from a report (``None`` figures are not exported)."""
    for role, q in report.models.items():
        pairs = (
            (metrics.QUALITY_PRECISION, q.precision),
            (metrics.QUALITY_CARD_PRECISION, q.card_precision_mean),
            (metrics.QUALITY_RECALL, q.recall),
            (metrics.QUALITY_DELAY, q.delay_median_s),
            (metrics.QUALITY_REVIEWED, q.reviewed_alerts),
        )
        for gauge, value in pairs:
            if value is not None:
                gauge.labels(model=role).set(value)
        for scenario, row in q.by_scenario.items():
            if row["recall"] is not None:
                metrics.QUALITY_SCENARIO_RECALL.labels(model=role, scenario=scenario).set(
                    row["recall"]
                )
    counts = report.verdicts
    judged = counts.total - counts.held
    for state, n in (("judged", judged), ("held", counts.held), ("expired", counts.expired),
                     ("not_alerted", counts.not_alerted)):  # fmt: skip
        metrics.QUALITY_VERDICT_STATE.labels(state=state).set(n)
