"""The quality index in Redis: alerts and verdicts kept per shard, and the figures read back.

Every key carries the shard's hash tag (``<prefix>:meta:q-…:{s}``), so the writes ride in the
shard's commit script and every replica reads the same figures. What is kept grows with
alerts and verdicts, never with transactions, and lives ``RTAD_QUALITY_RETENTION_DAYS``:

- ``q-alert:<version>`` hash: transaction → its alert record (JSON: event time, card, score,
  scenario), written by the commit script for each alert of the model (the challenger's: the
  alerts it would have raised); ``q-alert-age:<version>`` sorted set: when, for pruning;
- ``q-cards:<version>:<day>`` sorted set: card → its highest alert score of that event day
  (``ZADD GT``), the source of Card Precision@k; ``q-days:<version>`` set of those days;
- ``q-verdict`` hash: transaction → ``<given ms>|<verdict JSON>``, the latest verdict only
  (:data:`VERDICT_SCRIPT`); ``q-verdict-age`` sorted set for pruning;
- ``q-watermark`` sorted set: the ingest time of the latest entry scored on the shard, which
  tells a verdict still waiting for its transaction (held) from one that was not alerted.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis

from rtad.common.streams import StreamNames
from rtad.scorer.alert_budget import op, pairs_ops
from rtad.scorer.quality import (
    AlertRecord,
    ModelQuality,
    Verdict,
    VerdictCounts,
    day_of,
    model_quality,
    split_held,
)

DAY_S = 86_400

#: KEYS[1] labels stream, [2] verdict hash, [3] verdict age; ARGV[1] group, [2] now ms, [3] n;
#: then n triples (transaction, given ms, payload), then the IDs to acknowledge. The latest
#: ``given_at`` wins, a tie goes to the later entry. Returns {new, replaced, superseded}.
VERDICT_SCRIPT = """
local n, now = tonumber(ARGV[3]), ARGV[2]
local new, replaced, superseded = 0, 0, 0
for i = 4, 3 + 3 * n, 3 do
  local tx, given = ARGV[i], tonumber(ARGV[i + 1])
  local old = redis.call('HGET', KEYS[2], tx)
  if old and tonumber(string.match(old, '^(%d+)|')) > given then
    superseded = superseded + 1
  else
    if old then replaced = replaced + 1 else new = new + 1 end
    redis.call('HSET', KEYS[2], tx, ARGV[i + 1] .. '|' .. ARGV[i + 2])
    redis.call('ZADD', KEYS[3], now, tx)
  end
end
local first = 4 + 3 * n
for j = first, #ARGV, 1000 do
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, j, math.min(j + 999, #ARGV)))
end
return {new, replaced, superseded}
"""


def alert_ops(
    names: StreamNames,
    version: str,
    shard: int,
    alerts: Sequence[tuple[str, AlertRecord]],
    now_ms: int,
    ttl_s: int,
) -> list[bytes]:
    """Commit-script operations recording the ``(transaction, record)`` alerts of ``version``
    on a shard in the index: one command per key (and per few hundred alerts)."""
    if not alerts:
        return []
    records: list[bytes] = []
    ages: list[bytes] = []
    cards: dict[str, list[bytes]] = {}
    now = b"%d" % now_ms
    for tx, alert in alerts:
        member = tx.encode()
        record = orjson.dumps([alert.event_ms, alert.card, alert.score, alert.scenario])
        records += (member, record)
        ages += (now, member)
        cards.setdefault(alert.day, []).extend((repr(alert.score).encode(), alert.card.encode()))
    alerts_key = names.quality_alerts_key(version, shard).encode()
    ages_key = names.quality_alert_age_key(version, shard).encode()
    days_key = names.quality_days_key(version, shard).encode()
    ops = [*pairs_ops((b"HSET", alerts_key), records), *pairs_ops((b"ZADD", ages_key), ages)]
    written = [alerts_key, ages_key, days_key]
    for day, pairs in cards.items():  # ZADD GT keeps a card's highest score of the day
        day_key = names.quality_cards_key(version, day, shard).encode()
        ops += pairs_ops((b"ZADD", day_key, b"GT"), pairs)
        written.append(day_key)
    ops += op(b"SADD", days_key, *(day.encode() for day in cards))
    ttl = b"%d" % ttl_s
    for key in written:  # a model no longer served is forgotten in time
        ops += op(b"EXPIRE", key, ttl)
    return ops


def watermark_op(names: StreamNames, shard: int, ingest_ms: int) -> list[bytes]:
    """The operation moving the shard's scored watermark forward (never back)."""
    return op(
        b"ZADD", names.quality_watermark_key(shard).encode(), b"GT", b"%d" % ingest_ms, b"scored"
    )


def prune(client: redis.Redis, names: StreamNames, versions: Sequence[str], keep_s: int) -> int:
    """Forget alerts and verdicts older than ``keep_s``; how many went."""
    cutoff = int(time.time() * 1000) - keep_s * 1000
    removed = 0
    for shard in range(names.shards):
        pairs = [(names.quality_verdicts_key(shard), names.quality_verdict_age_key(shard))]
        pairs += [
            (names.quality_alerts_key(v, shard), names.quality_alert_age_key(v, shard))
            for v in versions
        ]
        for hash_key, age_key in pairs:
            old = client.zrangebyscore(age_key, "-inf", cutoff, start=0, num=10_000)
            if old:
                client.hdel(hash_key, *old)
                client.zrem(age_key, *old)
                removed += len(old)
    return removed


@dataclass
class QualityReport:
    """The figures of every model, by role, and what became of the verdicts."""

    models: dict[str, ModelQuality]
    versions: dict[str, str]
    verdicts: VerdictCounts
    k: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "verdicts": vars(self.verdicts),
            "models": {
                role: {"version": self.versions[role], **q.as_dict()}
                for role, q in self.models.items()
            },
        }


def collect(
    client: redis.Redis,
    names: StreamNames,
    versions: Mapping[str, str],
    *,
    k: int,
    days: int,
    hold_s: int,
    now_ms: int | None = None,
) -> QualityReport:
    """Read the index of every shard and compute the figures of each model (``role →
    version``, e.g. ``{"champion": "v1", "challenger": "v2"}``)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    verdicts, watermarks = _read_verdicts(client, names)
    alerts = {role: _read_alerts(client, names, v, verdicts) for role, v in versions.items()}
    known: dict[str, AlertRecord] = {}
    for per_model in alerts.values():
        known.update(per_model)
    judged, counts = split_held(verdicts, known, watermarks, now_ms, hold_s * 1000)
    models = {
        role: model_quality(
            judged, alerts[role], _top_cards(client, names, versions[role], k, days), k, known
        )
        for role in versions
    }
    return QualityReport(models=models, versions=dict(versions), verdicts=counts, k=k)


def _read_verdicts(client: redis.Redis, names: StreamNames) -> tuple[list[Verdict], dict[int, int]]:
    pipe = client.pipeline(transaction=False)
    for shard in range(names.shards):
        pipe.hgetall(names.quality_verdicts_key(shard))
        pipe.zscore(names.quality_watermark_key(shard), "scored")
    replies = pipe.execute()
    verdicts: list[Verdict] = []
    watermarks: dict[int, int] = {}
    for shard in range(names.shards):
        stored, mark = replies[2 * shard], replies[2 * shard + 1]
        if mark is not None:
            watermarks[shard] = int(mark)
        for tx, value in stored.items():
            verdicts.append(_verdict(tx.decode(), value, shard))
    return verdicts, watermarks


def _verdict(tx: str, value: bytes, shard: int) -> Verdict:
    given, _, payload = value.partition(b"|")
    label = orjson.loads(payload)
    return Verdict(
        transaction_id=tx,
        card=str(label["user_id"]),
        fraud=label["verdict"] == "fraud",
        given_ms=int(given),
        arrival_ms=int(label.get("arrival_ms", given)),
        shard=shard,
        source=str(label.get("source", "analyst")),
        transaction_ms=label.get("transaction_ms"),
    )


def _read_alerts(
    client: redis.Redis, names: StreamNames, version: str, verdicts: Sequence[Verdict]
) -> dict[str, AlertRecord]:
    by_shard: dict[int, list[str]] = {}
    for v in verdicts:
        by_shard.setdefault(v.shard, []).append(v.transaction_id)
    pipe = client.pipeline(transaction=False)
    for shard, txs in by_shard.items():
        pipe.hmget(names.quality_alerts_key(version, shard), txs)
    out: dict[str, AlertRecord] = {}
    for txs, values in zip(by_shard.values(), pipe.execute(), strict=True):
        for tx, raw in zip(txs, values, strict=True):
            if raw is not None:
                event_ms, card, score, scenario = orjson.loads(raw)
                out[tx] = AlertRecord(int(event_ms), str(card), float(score), scenario)
    return out


def _top_cards(
    client: redis.Redis, names: StreamNames, version: str, k: int, days: int
) -> dict[str, list[str]]:
    """The k cards with the highest alert score of each of the last ``days`` days (all shards)."""
    shards = range(names.shards)
    pipe = client.pipeline(transaction=False)
    for shard in shards:
        pipe.smembers(names.quality_days_key(version, shard))
    recent = sorted({d.decode() for found in pipe.execute() for d in found})[-days:]
    for day in recent:
        for shard in shards:
            pipe.zrevrange(names.quality_cards_key(version, day, shard), 0, k - 1, withscores=True)
    replies = iter(pipe.execute())
    out: dict[str, list[str]] = {}
    for day in recent:
        scored = [pair for _ in shards for pair in next(replies)]
        scored.sort(key=lambda pair: -pair[1])
        out[day] = [card.decode() for card, _score in scored[:k]]
    return out


def retention_s(days: int) -> int:
    return days * DAY_S


__all__ = ["QualityReport", "alert_ops", "collect", "day_of", "watermark_op"]
