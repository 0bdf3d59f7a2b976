"""Writing feature entries: entries built from packed records equal the Python reference
format, and the per-(query, writer, shard) marker against a real redis-server."""

from __future__ import annotations

import math
import random
import re
import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import orjson
import pyarrow as pa
import pytest
import redis

from rtad.common.errors import RtadError
from rtad.common.feature_entry import (
    decode_feature_entry,
    feature_set_id,
    finish_heads,
    packed_features,
)
from rtad.common.local_redis import LocalRedis
from rtad.common.schema import Transaction
from rtad.common.streams import StreamNames
from rtad.streaming.feature_sink import FeatureWriter, SinkTarget, group_by_shard
from rtad.streaming.packed_records import pack, unpack
from tests.unit.streaming.packing import reference_fields

FEATURES = ("amount_z", "velocity_1h", "km_from_home")
SET_ID = feature_set_id(FEATURES)
KNOWN = {SET_ID: FEATURES}


def awkward_records(count: int, seed: int = 3) -> tuple[list[Transaction], np.ndarray]:
    """Valid records with every awkward value we know of, and feature rows for them."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    # strings that look like the JSON the job edits by text
    odd_ids = ['q"uote', "back\\slash", "nl\nx", "é€😀", '"timestamp":"x"', "tab\t\x01",
        "NaN", "-Infinity", "m.000000Z", ',"is_fraud":null', '","ingest_ms":1}', "}\\"]  # fmt: skip
    specials = [math.nan, math.inf, -math.inf, 0.0, -0.0, 5e-324, 1.7976931348623157e308]
    users = [f"card-{i}" for i in range(count // 2)] + ["é-card", "card-€", "😀", "x" * 128]
    records, feats = [], []
    for i in range(count):
        label = i % 4  # both absent, legit (no scenario), fraud with a scenario, scenario only
        micros = 0 if i % 2 else rng.choice([1, 120_000, 999_999, rng.randrange(1_000_000)])
        zone = timezone(timedelta(hours=[0, 1, -5, 5.5][i % 4]))
        records.append(
            Transaction(
                transaction_id=f"tx-{i}",
                timestamp=(start + timedelta(seconds=37 * i, microseconds=micros)).astimezone(zone),
                user_id=rng.choice(users),
                merchant_id=odd_ids[i // 3 % len(odd_ids)] if i % 3 == 0 else f"m-{i % 7}",
                amount=round(rng.lognormvariate(3, 1), 2) if i % 9 else 1e7 + 0.5,
                currency="EUR",
                latitude=rng.uniform(-90, 90),
                longitude=rng.uniform(-180, 180),
                merchant_category=odd_ids[i % len(odd_ids)] if i % 5 == 0 else None,
                channel=["pos", "online", "atm", None][i % 4],
                country="FR" if i % 2 else None,
                is_fraud=[None, 0, 1, None][label],
                fraud_scenario=[None, None, 'card "testing"', "x"][label],
            )
        )
        feats.append(
            [
                specials[(i // 11 + k) % len(specials)]
                if i % 11 == 3
                else rng.choice([rng.gauss(0, 1e3), rng.random() * 1e-9, rng.random()])
                for k in range(len(FEATURES))
            ]
        )
    return records, np.array(feats, dtype=np.float64).reshape(count, len(FEATURES))


def test_entries_from_packed_records_equal_the_python_reference() -> None:
    records, matrix = awkward_records(400)
    ingest = np.arange(len(records), dtype=np.int64) + 1_767_600_000_000
    users, packed = pack(records, ingest, shard=2)
    assert users.to_pylist() == [r.user_id for r in records]
    rows = unpack(packed)
    assert rows.users.to_pylist() == users.to_pylist()
    assert rows.fixed["shard"].tolist() == [2] * len(records)
    heads = finish_heads(rows.heads, 1234, SET_ID).to_pylist()
    xs = packed_features(matrix).to_pylist()
    for tx, ms, head, x, row in zip(records, ingest, heads, xs, matrix, strict=True):
        assert head == reference_fields(tx, int(ms), row, FEATURES, 1234)[b"d"]
        entry = decode_feature_entry({b"v": b"2", b"d": head, b"x": x}, KNOWN)
        assert entry["transaction_id"] == tx.transaction_id and entry["user_id"] == tx.user_id
        # every double, NaN and ±inf included, lands bit for bit
        assert np.array(list(entry["features"].values()), "<f8").tobytes() == x
    first = orjson.loads(heads[0])
    assert "is_fraud" not in first and "fraud_scenario" not in first
    assert first["event_time"].startswith("2026-01-05T10:00:00.") and first["event_time"][-1] == "Z"
    assert first["merchant_id"] == 'q"uote'
    second = orjson.loads(heads[1])  # the record's own zone is kept
    assert second["event_time"] == "2026-01-05T11:00:37+01:00" and second["is_fraud"] == 0
    assert sum(not np.isfinite(row).all() for row in matrix) > 5


# --------------------------------------------------------------------------- writing


def feature_writer(server: LocalRedis, names: StreamNames) -> FeatureWriter:
    return FeatureWriter(SinkTarget(server.url, names), SET_ID)


def payload_array(payloads: list[bytes]) -> pa.RecordBatch:
    """Entries as the sink groups them: head JSON and packed features (one double each)."""
    xs = packed_features(np.arange(len(payloads), dtype=np.float64).reshape(-1, 1))
    return pa.record_batch({"payload": pa.array([p.decode() for p in payloads]), "x": xs})


@pytest.mark.redis
def test_a_replayed_batch_writes_nothing_twice(
    redis_server: LocalRedis, redis_client: redis.Redis, names: StreamNames
) -> None:
    writer = feature_writer(redis_server, names)
    payloads = payload_array([b'{"n": 1}', b'{"n": 2}'])
    assert writer.write_shard(1, payloads, "q:0", batch_id=5)
    assert not writer.write_shard(1, payloads, "q:0", batch_id=5)  # replay
    assert writer.write_shard(1, payloads, "q:0", batch_id=6)  # next batch
    assert writer.write_shard(1, payloads, "q2:0", batch_id=0)  # new checkpoint
    assert redis_client.xlen(names.key("features", 1)) == 6
    assert redis_client.hget(names.stream_stats_key(1), "rows_out") == b"6"
    # the skipped replay left no WATCH behind on the pooled connection
    with redis_client.pipeline(transaction=True) as pipe:
        pipe.incr("after")
        assert pipe.execute() == [1]


@pytest.mark.redis
def test_writers_of_one_shard_at_once_all_land(
    redis_server: LocalRedis, redis_client: redis.Redis, names: StreamNames
) -> None:
    """WATCH fires when another writer commits the shared marker: retry, never drop."""

    def task(bucket: int) -> None:
        writer = feature_writer(redis_server, names)  # a client of its own, as in a task
        for batch in range(20):
            writer.write_shard(2, payload_array([b"{}"] * 50), f"q:bucket-{bucket}", batch)
        writer.close()

    threads = [threading.Thread(target=task, args=(p,)) for p in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert redis_client.xlen(names.key("features", 2)) == 4 * 20 * 50
    marker = redis_client.hgetall(names.feature_sink_marker_key(2))
    assert marker == {f"q:bucket-{b}".encode(): b"19" for b in range(4)}


@pytest.mark.redis
def test_rows_are_written_only_inside_a_streaming_task(
    redis_server: LocalRedis, redis_client: redis.Redis, names: StreamNames
) -> None:
    """Without Spark's batch id a replay could not be recognised: refuse, write nothing."""
    writer = feature_writer(redis_server, names)
    rows = pa.record_batch(
        {"shard": pa.array([1], pa.int32()), "payload": [b"{}"], "features": [b""]}
    )
    with pytest.raises(RtadError, match="only inside a streaming query's task"):
        writer.write(rows, writer="bucket-0")
    writer.close()
    assert redis_client.xlen(names.key("features", 1)) == 0


@pytest.mark.redis
def test_entries_land_byte_for_byte_in_their_shard_in_order(
    redis_server: LocalRedis, redis_client: redis.Redis, names: StreamNames
) -> None:
    # raw CR LF and multi-byte characters: the framing counts bytes
    texts = [f'{{"i":{i},"s":"é€😀\r\n{"x" * (i * 37)}","ingest_ms":{i}}}' for i in range(60)]
    xs = [b"\r\n$1\r\n" * (i % 4) + np.float64(i).tobytes() for i in range(60)]
    shards = [i % 3 for i in range(60)]
    batches = [
        pa.record_batch(
            {
                "shard": pa.array(shards[a:b], pa.int32()),
                "payload": texts[a:b],
                "features": pa.array(xs[a:b], pa.binary()),
            }
        )
        for a, b in ((0, 25), (25, 25), (25, 60))
    ]
    before = int(time.time() * 1000)
    by_shard = group_by_shard(iter(batches), SET_ID)
    after = int(time.time() * 1000)
    assert sorted(by_shard) == [0, 1, 2]
    writer = feature_writer(redis_server, names)
    for shard, entries in by_shard.items():
        assert writer.write_shard(shard, entries, "q:0", batch_id=1)
    for shard in range(3):
        fields = [f for _, f in redis_client.xrange(names.key("features", shard))]
        assert all(list(f) == [b"v", b"d", b"x"] and f[b"v"] == b"2" for f in fields)
        assert [f[b"x"] for f in fields] == [
            x for x, s in zip(xs, shards, strict=True) if s == shard
        ]
        stored = [f[b"d"] for f in fields]
        tail = rb',"feature_ms":(\d+),"feature_set":"' + SET_ID.encode() + rb'"}$'
        stamps = {int(m) for p in stored for m in re.findall(tail, p)}
        assert stamps and all(before <= ms <= after for ms in stamps)  # as each batch came
        unstamped = [re.sub(tail, b"}", p) for p in stored]
        assert unstamped == [t.encode() for t, s in zip(texts, shards, strict=True) if s == shard]
    assert redis_client.xlen(names.key("features", 3)) == 0


@pytest.mark.redis
def test_a_key_that_is_not_a_stream_is_refused_before_anything_is_written(
    redis_server: LocalRedis, redis_client: redis.Redis, names: StreamNames
) -> None:
    key = names.key("features", 0)
    marker = names.feature_sink_marker_key(0)
    redis_client.set(key, "not a stream")
    writer = feature_writer(redis_server, names)
    with pytest.raises(RtadError, match=r"^rtad:features:\{0\} holds a string, not a stream"):
        writer.write_shard(0, payload_array([b"{}"]), "q:0", batch_id=1)
    assert redis_client.hget(marker, "q:0") is None  # a retry will write the batch
    assert redis_client.ping()
    redis_client.delete(key)
    assert writer.write_shard(0, payload_array([b"{}"]), "q:0", batch_id=1)
    assert redis_client.xlen(key) == 1


@pytest.mark.redis
def test_an_xadd_failing_inside_exec_puts_the_marker_back(
    redis_server: LocalRedis, redis_client: redis.Redis, names: StreamNames
) -> None:
    """EXEC runs the rest when one command fails: the marker must not say "written"."""
    key, stats = names.key("features", 3), names.stream_stats_key(3)
    marker = names.feature_sink_marker_key(3)
    writer = feature_writer(redis_server, names)
    assert writer.write_shard(3, payload_array([b"{}"] * 2), "q:0", batch_id=4)
    last = 2**64 - 1
    redis_client.xadd(key, {"v": "1"}, id=f"{last}-{last}")  # no ID left for XADD *
    with pytest.raises(RtadError, match=r"^3 of 3 entries not written to rtad:features:\{3\} "):
        writer.write_shard(3, payload_array([b"{}"] * 3), "q:0", batch_id=5)
    assert redis_client.hget(marker, "q:0") == b"4"  # as before the failed batch
    assert redis_client.hget(stats, "rows_out") == b"2"
    with pytest.raises(RtadError, match="not written"):  # a first batch: the marker is removed
        writer.write_shard(3, payload_array([b"{}"]), "q2:0", batch_id=0)
    assert redis_client.hget(marker, "q2:0") is None
    redis_client.delete(key)
    assert writer.write_shard(3, payload_array([b"{}"] * 3), "q:0", batch_id=5)
    assert redis_client.xlen(key) == 3 and redis_client.hget(marker, "q:0") == b"5"
