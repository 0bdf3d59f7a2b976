"""The stream worker against a real redis-server: exactly once, dead letters, takeover, trim."""

from __future__ import annotations

import base64
import gc
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import orjson
import pytest
import redis
from prometheus_client import REGISTRY

from rtad.common.feature_entry import feature_set_id, register_feature_set
from rtad.common.local_redis import LocalRedis
from rtad.common.streams import StreamNames
from rtad.features.table import FEATURE_COLUMNS
from rtad.ml.model_store import load_model
from rtad.scorer.metrics import DEADLETTER
from rtad.scorer.worker.decode import DEADLETTER_CODES
from rtad.scorer.worker.faults import FaultPlan
from tests.integration.scorer.helpers import make_worker, step_until
from tests.unit.scorer.support import packed_fields, pending_total, publish, read_stream

pytestmark = pytest.mark.redis


def test_every_entry_is_scored_once_with_alerts_and_counters(
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    model_dir: Path,
    scorer_rows: list[dict],
) -> None:
    publish(redis_client, names, scorer_rows)
    worker = make_worker(redis_server.url, model_dir)
    step_until(worker, lambda: worker.scored == len(scorer_rows))
    scores = read_stream(redis_client, names, "scores")
    assert sorted(s["transaction_id"] for s in scores) == sorted(
        r["transaction_id"] for r in scorer_rows
    )
    alerts = read_stream(redis_client, names, "alerts")
    assert alerts and sorted(a["transaction_id"] for a in alerts) == sorted(
        s["transaction_id"] for s in scores if s["is_anomaly"]
    )
    assert pending_total(redis_client, names) == 0
    assert sum(worker.reader.lag().values()) == 0
    totals = Counter()
    for shard in range(names.shards):
        for field, value in redis_client.hgetall(names.scorer_totals_key(shard)).items():
            totals[field.decode()] += int(value)
    assert totals["scored"] == len(scorer_rows) and totals["anomalies"] == len(alerts)
    frauds = sum(1 for r in scorer_rows if r["is_fraud"])
    labelled = sum(v for k, v in totals.items() if k.endswith(":count") and "genuine" not in k)
    assert labelled == frauds


def test_entries_of_encoding_2_are_scored_once_as_their_features_say(
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    model_dir: Path,
    scorer_rows: list[dict],
) -> None:
    """What the Spark job writes: the worker learns the feature sets from Redis when met."""
    rows, later_rows, stray = scorer_rows[:1000], scorer_rows[1000:1010], scorer_rows[1010]
    publish(redis_client, names, rows)
    worker = make_worker(redis_server.url, model_dir)
    step_until(worker, lambda: worker.scored == 1000)
    # a set registered after the worker started (another order), and one never registered
    later = tuple(reversed(FEATURE_COLUMNS))
    register_feature_set(redis_client, names.prefix, later)
    for row in later_rows:
        redis_client.xadd(names.for_user("features", row["user_id"]), packed_fields(row, later))
    unknown = FEATURE_COLUMNS[:-1]
    stray_fields = packed_fields(stray, unknown)
    redis_client.xadd(names.for_user("features", stray["user_id"]), stray_fields)
    step_until(worker, lambda: worker.scored == 1010 and pending_total(redis_client, names) == 0)
    scores = read_stream(redis_client, names, "scores")
    assert len(scores) == 1010
    model = load_model(model_dir)
    expected = model.score(
        np.array([[r["features"][n] for n in model.feature_names] for r in rows + later_rows])
    )
    assert {s["transaction_id"]: s["score"] for s in scores} == {
        r["transaction_id"]: score
        for r, score in zip(rows + later_rows, expected.tolist(), strict=True)
    }
    first = next(s for s in scores if s["transaction_id"] == rows[0]["transaction_id"])
    head = {k: rows[0][k] for k in ("user_id", "event_time", "amount", "merchant_id", "is_fraud")}
    assert head.items() <= first.items() and first["ingest_ms"] == rows[0]["ingest_ms"]
    ((_id, dead),) = redis_client.xrange(names.for_user("deadletter", stray["user_id"]))
    assert dead[b"reason"].decode() == f"unknown feature set {feature_set_id(unknown)!r}"
    kept = orjson.loads(dead[b"payload"])
    assert orjson.loads(kept["d"])["transaction_id"] == stray["transaction_id"]
    assert kept["x_base64"] == base64.b64encode(stray_fields[b"x"]).decode()


def test_bad_entries_are_dead_lettered_and_acknowledged(
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    model_dir: Path,
    scorer_rows: list[dict],
) -> None:
    good = scorer_rows[:20]
    missing = packed_fields({k: v for k, v in good[0].items() if k != "ingest_ms"})
    not_json = {**packed_fields(good[1]), b"d": b"{not json"}
    key = names.for_user("features", good[0]["user_id"])
    publish(redis_client, names, good)
    redis_client.xadd(key, missing)  # type: ignore[arg-type]
    redis_client.xadd(key, not_json)  # type: ignore[arg-type]
    redis_client.xadd(key, {"other": "field"})
    redis_client.xadd(key, {"v": "1", "d": orjson.dumps(good[2])})  # encoding 1: retired
    before = DEADLETTER.labels(reason="invalid_row")._value.get()
    worker = make_worker(redis_server.url, model_dir)
    step_until(worker, lambda: worker.scored == 20 and pending_total(redis_client, names) == 0)
    dead = redis_client.xrange(names.for_user("deadletter", good[0]["user_id"]))
    reasons = [fields[b"reason"].decode() for _id, fields in dead]
    assert len(dead) == 4 and all(f[b"stage"] == b"scorer" for _i, f in dead)
    assert "missing required field `ingest_ms`" in reasons[0] and "not JSON" in reasons[1]
    assert "version" in reasons[2]
    assert reasons[3] == "unsupported encoding version b'1' (expected b'2')"
    assert orjson.loads(dead[1][1][b"payload"])["d"] == "{not json"
    assert dead[3][1][b"payload"] == orjson.dumps(good[2])
    assert dead[0][1][b"source"].decode().startswith(key + "/")
    assert DEADLETTER.labels(reason="invalid_row")._value.get() == before + 2


def test_a_dead_consumer_s_entries_are_taken_over(
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    model_dir: Path,
    scorer_rows: list[dict],
) -> None:
    rows = scorer_rows[:400]
    publish(redis_client, names, rows)
    worker = make_worker(redis_server.url, model_dir, claim_idle_ms=600)
    # another replica reads a batch of every shard, then dies without acknowledging
    redis_client.xreadgroup(
        "scorer", "dead-replica-1", {k: ">" for k in names.all("features")}, count=50
    )
    assert pending_total(redis_client, names) == 200
    time.sleep(0.65)
    step_until(worker, lambda: worker.scored == 400)
    assert len(read_stream(redis_client, names, "scores")) == 400
    assert pending_total(redis_client, names) == 0


def test_a_poison_entry_is_dead_lettered_after_n_deliveries(
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    model_dir: Path,
    scorer_rows: list[dict],
) -> None:
    rows = [dict(r) for r in scorer_rows[:300]]
    poison = rows[123] = {**rows[123], "features": {**rows[123]["features"], "count_1h": 777.0}}
    publish(redis_client, names, rows)
    worker = make_worker(
        redis_server.url,
        model_dir,
        FaultPlan(poison_value=777.0),
        claim_idle_ms=600,
        max_deliveries=3,
    )
    dead_key = names.for_user("deadletter", poison["user_id"])
    step_until(worker, lambda: redis_client.xlen(dead_key) == 1)
    ((_id, fields),) = redis_client.xrange(dead_key)
    assert fields[b"reason"] == b"not scored after 3 deliveries"
    kept = orjson.loads(fields[b"payload"])  # the whole entry: head, and x in base64
    assert orjson.loads(kept["d"])["transaction_id"] == poison["transaction_id"]
    scored = [s["transaction_id"] for s in read_stream(redis_client, names, "scores")]
    assert sorted(scored) == sorted(r["transaction_id"] for r in rows if r is not poison)
    assert pending_total(redis_client, names) == 0


def test_replicas_share_the_group_and_score_each_entry_once(
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    model_dir: Path,
    scorer_rows: list[dict],
) -> None:
    workers = [
        make_worker(redis_server.url, model_dir, consumer_name=f"replica-{i}", batch_count=50)
        for i in range(2)
    ]
    threads = [threading.Thread(target=w.run) for w in workers]
    for t in threads:
        t.start()
    try:
        publish(redis_client, names, scorer_rows)
        deadline = time.monotonic() + 60
        while sum(w.scored for w in workers) < len(scorer_rows):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        for w in workers:
            w.stop()
        for t in threads:
            t.join(10)
    ids = [s["transaction_id"] for s in read_stream(redis_client, names, "scores")]
    assert len(ids) == len(set(ids)) == len(scorer_rows)
    assert all(w.scored > 0 for w in workers)


def test_trimming_keeps_unread_features_and_bounds_outputs_by_time(
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    model_dir: Path,
    scorer_rows: list[dict],
) -> None:
    publish(redis_client, names, scorer_rows[:400])
    worker = make_worker(redis_server.url, model_dir)
    step_until(worker, lambda: worker.scored == 400)
    publish(redis_client, names, scorer_rows[400:500])  # not read yet
    worker.maintenance.trim()
    assert sum(redis_client.xlen(k) for k in names.all("features")) == 100
    assert sum(redis_client.xlen(k) for k in names.all("scores")) == 400  # within retention
    later = int(time.time() * 1000) + 2 * 3600 * 1000
    worker.maintenance.trim(now_ms=later)
    assert sum(redis_client.xlen(k) for k in names.all("scores")) == 0
    assert sum(redis_client.xlen(k) for k in names.all("features")) == 100


def test_the_collector_is_paused_only_while_busy(
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    model_dir: Path,
    scorer_rows: list[dict],
) -> None:
    """Reads that follow a batch run without cyclic GC; a blocking idle read keeps it on."""
    worker = make_worker(redis_server.url, model_dir, batch_count=100, block_ms=20)
    worker.step()  # claims, maintenance, an empty read: idle from here
    seen: list[bool] = []
    read = worker.reader.read_groups

    def recording_read(count: int, block_ms: int | None) -> list:
        seen.append(gc.isenabled())
        return read(count, block_ms)

    worker.reader.read_groups = recording_read  # type: ignore[method-assign]
    publish(redis_client, names, scorer_rows[:600])
    step_until(worker, lambda: worker.scored == 600)
    worker.step()  # the stream ran dry: this read found nothing
    worker.step()  # so this one blocks with the collector on
    assert seen[0] is True and False in seen and seen[-1] is True
    assert gc.isenabled()
    worker.close()


def test_every_known_dead_letter_reason_has_a_series_from_the_start(
    redis_server: LocalRedis, model_dir: Path
) -> None:
    make_worker(redis_server.url, model_dir)
    for reason in DEADLETTER_CODES:
        value = REGISTRY.get_sample_value("rtad_scorer_deadletter_total", {"reason": reason})
        assert value is not None, reason
    anomalies = REGISTRY.get_sample_value("rtad_scorer_anomalies_total", {"reason": "none"})
    assert anomalies is not None
