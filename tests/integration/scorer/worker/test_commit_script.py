"""One shard's hand-packed commit script against a real redis-server: what lands, and failures."""

from __future__ import annotations

from collections import Counter

import numpy as np
import orjson
import pytest
import redis

from rtad.common.streams import SCORER_GROUP, StreamNames
from rtad.scorer.alert_budget import PAIRS_PER_OP, AlertBudget, BudgetShape
from rtad.scorer.counters import SERIES_TTL_S, bucket_key, bucket_start, totals_key
from rtad.scorer.quality import AlertRecord
from rtad.scorer.quality_store import alert_ops
from rtad.scorer.worker.batch import ShardOutput
from rtad.scorer.worker.commit_script import ShardCommit, commit_shards, id_range

pytestmark = pytest.mark.redis


CONSUMER = "w"  # the consumer the entries of these tests are delivered to


def commit_shard(
    client: redis.Redis, names: StreamNames, group: str, out: ShardOutput, now_ms: int
) -> ShardCommit | None:
    """One shard's script alone, as :data:`CONSUMER`: what it did, None if nothing to do."""
    commits = commit_shards(client, names, group, CONSUMER, [out], now_ms)
    return commits[0] if commits else None


def _pending_features(client: redis.Redis, names: StreamNames, shard: int, n: int) -> list[bytes]:
    key = names.key("features", shard)
    client.xgroup_create(key, SCORER_GROUP, id="0", mkstream=True)
    ids = [client.xadd(key, {"v": "1", "d": f'{{"i":{i}}}'}) for i in range(n)]
    client.xreadgroup(SCORER_GROUP, CONSUMER, {key: ">"})
    return ids


def test_a_shard_commit_writes_everything_and_acknowledges_in_one_script(
    redis_client: redis.Redis, names: StreamNames
) -> None:
    ids = _pending_features(redis_client, names, 2, 6)
    scores = [orjson.dumps({"transaction_id": f"t{i}", "is_anomaly": i == 3}) for i in range(5)]
    out = ShardOutput(
        2,
        scores=scores,
        alerts=[scores[3]],
        ack=ids[:5],
        deadletters=[(ids[5], "invalid_row", "feature row is not JSON", b"{oops")],
        anomalies=1,
        latency_counts=np.bincount([1, 1, 4], minlength=15),
        labelled=Counter({("genuine", False): 4, ("card_testing", True): 1}),
    )
    result = commit_shard(redis_client, names, SCORER_GROUP, out, 1_700_000_000_000)
    assert result == ShardCommit(2, written=5, not_owned=0)
    written = [f[b"d"] for _id, f in redis_client.xrange(names.key("scores", 2))]
    assert written == scores
    assert [f[b"d"] for _id, f in redis_client.xrange(names.key("alerts", 2))] == [scores[3]]
    (_id, dead), *_ = redis_client.xrange(names.key("deadletter", 2))
    assert dead[b"payload"] == b"{oops" and dead[b"stage"] == b"scorer"
    assert dead[b"source"] == f"{names.key('features', 2)}/{ids[5].decode()}".encode()
    assert redis_client.xpending(names.key("features", 2), SCORER_GROUP)["pending"] == 0
    totals = redis_client.hgetall(totals_key(names, 2))
    assert totals[b"scored"] == b"5" and totals[b"anomalies"] == b"1"
    assert totals[b"label:card_testing:detected"] == b"1"
    assert totals[b"label:genuine:count"] == b"4" and b"label:genuine:detected" not in totals
    bucket = bucket_key(names, 2, bucket_start(1_700_000_000_000))
    assert redis_client.hgetall(bucket) == {
        b"scored": b"5",
        b"anomalies": b"1",
        b"lat1": b"2",
        b"lat4": b"1",
    }
    assert 0 < redis_client.ttl(bucket) <= SERIES_TTL_S


def test_the_alert_budgets_window_lands_with_the_commit_and_old_buckets_leave(
    redis_client: redis.Redis, names: StreamNames
) -> None:
    """A bucket keeps its top scores, the hash counts rows, alerts and what the threshold
    aimed at; a batch a window later deletes the buckets that left the window."""
    budget = AlertBudget(names, BudgetShape(4, 4, 3600))  # 4 buckets, keeps 6 scores each
    budget.apply(2, ["v1"], [b"0.5", b"0.25"])  # the threshold in force, aiming at a quarter
    counts = names.budget_counts_key(2)

    def commit(scores: np.ndarray, when: np.ndarray) -> None:
        out = ShardOutput(2, scores=[b"{}"] * len(scores))
        members = [f"t{when[0]}-{i}" for i in range(len(scores))]
        out.add_ops(budget.window_ops("v1", 2, scores, members, when, True, scores >= 0.5))
        assert commit_shard(redis_client, names, SCORER_GROUP, out, 1).committed

    commit(np.linspace(0.0, 0.9, 10), np.zeros(10, dtype=np.int64))
    top = redis_client.zrange(names.budget_bucket_key("v1", 2, 0), 0, -1, withscores=True)
    assert [score for _m, score in top] == pytest.approx(np.linspace(0.0, 0.9, 10)[4:])
    assert redis_client.hgetall(counts) == {b"0": b"10", b"a:v1:0": b"5", b"i:v1:0": b"2.5"}
    assert 0 < redis_client.ttl(counts) <= 3600 + 3600
    commit(np.array([0.1]), np.array([6 * 900_000], dtype=np.int64))  # bucket 6: 0 leaves
    assert redis_client.exists(names.budget_bucket_key("v1", 2, 0)) == 0
    assert redis_client.hgetall(counts) == {b"6": b"1", b"i:v1:6": b"0.25"}


@pytest.mark.parametrize("kind", ["scores", "alerts", "deadletter"])
def test_a_key_of_another_type_writes_and_acknowledges_nothing(
    redis_client: redis.Redis, names: StreamNames, kind: str
) -> None:
    """A key holding something else than a stream: the entries must stay pending (to be
    scored again), not be acknowledged without their scores."""
    ids = _pending_features(redis_client, names, 1, 3)
    redis_client.set(names.key(kind, 1), "not a stream")
    out = ShardOutput(
        1,
        scores=[b'{"a":1}', b'{"a":2}'],
        alerts=[b'{"a":2}'],
        ack=ids[:2],
        deadletters=[(ids[2], "invalid_row", "bad", b"{oops")],
        anomalies=1,
    )
    with pytest.raises(redis.ResponseError, match=rf"^WRONGTYPE .*{kind}.* nothing written"):
        commit_shard(redis_client, names, SCORER_GROUP, out, 1_700_000_000_000)
    assert redis_client.xpending(names.key("features", 1), SCORER_GROUP)["pending"] == 3
    for other in {"scores", "alerts", "deadletter"} - {kind}:
        assert redis_client.exists(names.key(other, 1)) == 0
    assert redis_client.hget(totals_key(names, 1), "scored") is None


def test_acknowledgements_of_a_large_shard_batch_all_land(
    redis_client: redis.Redis, names: StreamNames
) -> None:
    ids = _pending_features(redis_client, names, 0, 2_500)  # several XACK chunks in the script
    scores = [b"{}"] * len(ids)
    commit_shard(redis_client, names, SCORER_GROUP, ShardOutput(0, scores=scores, ack=ids), 1)
    assert redis_client.xpending(names.key("features", 0), SCORER_GROUP)["pending"] == 0
    assert redis_client.xlen(names.key("scores", 0)) == len(ids)


def test_the_quality_index_of_many_alerts_lands_with_the_commit(
    redis_client: redis.Redis, names: StreamNames
) -> None:
    """More alerts than one command carries, two days, cards alerted more than once: each
    alert recorded, each card at its highest score of the day, every key with its TTL."""
    n = 2 * PAIRS_PER_OP + 7
    ids = _pending_features(redis_client, names, 3, n)
    day_ms = 86_400_000
    alerts = [
        (f"t{i}", AlertRecord(day_ms * (1 + i % 2), f"c{i % 50}", i / n, "card_testing"))
        for i in range(n)
    ]
    keys = names
    out = ShardOutput(3, scores=[b"{}"] * n, ack=ids)
    out.add_ops(alert_ops(keys, "v1", 3, alerts, 1_700_000_000_000, 3600))
    result = commit_shard(redis_client, names, SCORER_GROUP, out, 1_700_000_000_000)
    assert result == ShardCommit(3, written=n, not_owned=0)
    stored = redis_client.hgetall(keys.quality_alerts_key("v1", 3))
    assert len(stored) == n
    assert orjson.loads(stored[b"t8"]) == [day_ms, "c8", 8 / n, "card_testing"]
    assert redis_client.zcard(keys.quality_alert_age_key("v1", 3)) == n
    days = {d.decode() for d in redis_client.smembers(keys.quality_days_key("v1", 3))}
    assert days == {"1970-01-02", "1970-01-03"}
    for day, parity in (("1970-01-02", 0), ("1970-01-03", 1)):
        best: dict[str, float] = {}
        for _tx, record in alerts[parity::2]:
            best[record.card] = max(best.get(record.card, 0.0), record.score)
        cards = redis_client.zrange(keys.quality_cards_key("v1", day, 3), 0, -1, withscores=True)
        assert {c.decode(): score for c, score in cards} == pytest.approx(best)
        assert 0 < redis_client.ttl(keys.quality_cards_key("v1", day, 3)) <= 3600
    for key in (
        keys.quality_alerts_key("v1", 3),
        keys.quality_alert_age_key("v1", 3),
        keys.quality_days_key("v1", 3),
    ):
        assert 0 < redis_client.ttl(key) <= 3600


def test_the_shards_of_a_batch_share_a_round_trip_but_not_a_script(
    redis_client: redis.Redis, names: StreamNames
) -> None:
    """One shard's failing script neither stops nor undoes the others, and the error is raised."""
    ids = {shard: _pending_features(redis_client, names, shard, 3) for shard in (0, 1, 3)}
    redis_client.set(names.key("alerts", 1), "not a stream")  # shard 1's script fails there
    outputs = [
        ShardOutput(
            shard,
            scores=[orjson.dumps({"transaction_id": f"t{shard}-{i}"}) for i in range(3)],
            alerts=[b"{}"],
            ack=ids[shard],
            anomalies=1,
        )
        for shard in (0, 1, 3)
    ]
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        commit_shards(redis_client, names, SCORER_GROUP, CONSUMER, outputs, 1_700_000_000_000)
    for shard in (0, 3):
        assert redis_client.xlen(names.key("scores", shard)) == 3
        assert redis_client.xpending(names.key("features", shard), SCORER_GROUP)["pending"] == 0
        assert redis_client.hget(totals_key(names, shard), "scored") == b"3"
    assert redis_client.hget(totals_key(names, 1), "scored") is None  # its script stopped
    assert redis_client.xlen(names.key("scores", 1)) == 0  # before writing anything
    assert redis_client.xpending(names.key("features", 1), SCORER_GROUP)["pending"] == 3
    assert redis_client.ping()  # every reply was read: the pooled connection is in step


def test_entries_claimed_by_another_consumer_are_neither_written_nor_acknowledged(
    redis_client: redis.Redis, names: StreamNames
) -> None:
    """A stalled worker's commit after another consumer claimed one of its entries: the
    script writes nothing, and the claimed entry stays with its new owner."""
    features = names.key("features", 2)
    ids = _pending_features(redis_client, names, 2, 4)
    redis_client.xclaim(features, SCORER_GROUP, "successor", 0, [ids[1]])
    out = ShardOutput(
        2,
        scores=[b'{"a":0}', b'{"a":1}', b'{"a":2}'],
        alerts=[b'{"a":1}'],
        ack=ids[:3],
        deadletters=[(ids[3], "invalid_row", "bad", b"{oops")],
        anomalies=1,
    )
    assert commit_shard(redis_client, names, SCORER_GROUP, out, 1) == ShardCommit(2, 0, 1)
    for kind in ("scores", "alerts", "deadletter"):
        assert redis_client.exists(names.key(kind, 2)) == 0
    assert redis_client.hget(totals_key(names, 2), "scored") is None
    owners = {
        p["message_id"]: p["consumer"]
        for p in redis_client.xpending_range(features, SCORER_GROUP, "-", "+", 10)
    }
    assert owners == {ids[0]: b"w", ids[1]: b"successor", ids[2]: b"w", ids[3]: b"w"}


def test_entries_already_acknowledged_by_their_new_owner_are_not_committed_again(
    redis_client: redis.Redis, names: StreamNames
) -> None:
    features = names.key("features", 0)
    ids = _pending_features(redis_client, names, 0, 3)
    redis_client.xclaim(features, SCORER_GROUP, "successor", 0, ids)
    successor = ShardOutput(0, scores=[b"{}"] * 3, ack=ids)
    commits = commit_shards(redis_client, names, SCORER_GROUP, "successor", [successor], 1)
    assert commits == [ShardCommit(0, 3, 0)]
    stale = ShardOutput(0, scores=[b"{}"] * 3, ack=ids)
    assert commit_shard(redis_client, names, SCORER_GROUP, stale, 1) == ShardCommit(0, 0, 3)
    assert redis_client.xlen(names.key("scores", 0)) == 3
    assert redis_client.hget(totals_key(names, 0), "scored") == b"3"


def test_a_dead_letter_of_an_entry_claimed_away_is_not_written(
    redis_client: redis.Redis, names: StreamNames
) -> None:
    features = names.key("features", 1)
    ids = _pending_features(redis_client, names, 1, 2)
    redis_client.xclaim(features, SCORER_GROUP, "successor", 0, [ids[0]])
    out = ShardOutput(1, scores=[b"{}"], ack=[ids[1]], deadletters=[(ids[0], "x", "bad", b"?")])
    assert commit_shard(redis_client, names, SCORER_GROUP, out, 1) == ShardCommit(1, 0, 1)
    assert redis_client.exists(names.key("deadletter", 1)) == 0


def test_the_id_range_spans_acknowledgements_and_dead_letters() -> None:
    out = ShardOutput(
        0,
        ack=[b"20-0", b"20-5", b"100-1"],
        deadletters=[(b"9-9", "x", "r", b""), (b"1000-0", "x", "r", b"")],
    )
    assert id_range(out) == (b"9-9", b"1000-0")
    assert id_range(ShardOutput(0, ack=[b"5-1", b"5-10"])) == (b"5-1", b"5-10")
