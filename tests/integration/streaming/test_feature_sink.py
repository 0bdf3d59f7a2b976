"""The feature sink: entries built by Spark equal the Python reference format, and the
per-(query, partition, shard) marker against a real redis-server."""

from __future__ import annotations

import math
import random
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest
import redis

from rtad.common.errors import RtadError
from rtad.common.feature_entry import decode_feature_entry, feature_set_id
from rtad.common.local_redis import LocalRedis
from rtad.common.resp import pack_command
from rtad.common.streams import StreamNames, shard_of
from rtad.streaming.feature_sink import (
    FEATURE_MS_SLOT,
    FeatureStreamWriter,
    feature_entries,
    feature_fields,
    finish_payloads,
    group_by_shard,
    pack_xadds,
)
from rtad.streaming.processor import FEATURES_COLUMN, packed_features

FEATURES = ("amount_z", "velocity_1h", "km_from_home")
SET_ID = feature_set_id(FEATURES)
KNOWN = {SET_ID: FEATURES}


def feature_rows(count: int, seed: int = 3) -> pa.Table:
    """Rows as the processor hands them to the sink, with every awkward value we know of."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    # strings that look like the JSON the sink edits by text, or like Spark's "NaN"
    odd_ids = ['q"uote', "back\\slash", "nl\nx", "é€😀", FEATURE_MS_SLOT, "tab\t\x01", "NaN",
        "-Infinity", "m.000000Z", ',"is_fraud":null', '","ingest_ms":1', "m.000000Z\\"]  # fmt: skip
    specials = [math.nan, math.inf, -math.inf, 0.0, -0.0, 5e-324, 1.7976931348623157e308]
    users = [f"card-{i}" for i in range(count // 2)] + ["é-card", "card-€", "😀"]
    rows: dict[str, list[Any]] = {
        "transaction_id": [], "user_id": [], "merchant_id": [], "amount": [], "currency": [],
        "event_time": [], "ingest_ms": [], "is_fraud": [], "fraud_scenario": [],
    }  # fmt: skip
    feats: list[list[float]] = [[] for _ in FEATURES]
    for i in range(count):
        rows["transaction_id"].append(f"tx-{i}")
        rows["user_id"].append(rng.choice(users))
        rows["merchant_id"].append(odd_ids[i // 3 % len(odd_ids)] if i % 3 == 0 else f"m-{i % 7}")
        rows["amount"].append(round(rng.lognormvariate(3, 1), 2) if i % 9 else 1e7 + 0.5)
        rows["currency"].append("EUR")
        micros = 0 if i % 2 else rng.choice([1, 120_000, 999_999, rng.randrange(1_000_000)])
        rows["event_time"].append(start + timedelta(seconds=37 * i, microseconds=micros))
        rows["ingest_ms"].append(1_767_600_000_000 + i)
        label = i % 4  # both null, legit (no scenario), fraud with a scenario, scenario only
        rows["is_fraud"].append([None, 0, 1, None][label])
        rows["fraud_scenario"].append([None, None, 'card "testing"', "x"][label])
        for values in feats:
            if i % 11 == 3:
                values.append(specials[(i // 11 + len(values)) % len(specials)])
            else:
                values.append(rng.choice([rng.gauss(0, 1e3), rng.random() * 1e-9, rng.random()]))
    matrix = np.array(feats, dtype=np.float64).T.reshape(count, len(FEATURES))
    table = pa.table({**rows, FEATURES_COLUMN: packed_features(matrix)})
    at = table.schema.get_field_index("event_time")
    table = table.set_column(at, "event_time", table["event_time"].cast(pa.timestamp("us", "UTC")))
    return table.set_column(
        table.schema.get_field_index("is_fraud"), "is_fraud", table["is_fraud"].cast(pa.int32())
    )


def built_fields(built: pa.Table, feature_ms: int) -> list[dict[bytes, bytes]]:
    """The fields of the entries the sink would write for the rows Spark built."""
    payloads = finish_payloads(built["payload"].combine_chunks(), feature_ms).to_pylist()
    xs = built["x"].to_pylist()
    return [{b"v": b"2", b"d": p.encode(), b"x": x} for p, x in zip(payloads, xs, strict=True)]


@pytest.mark.spark
def test_entries_built_by_spark_equal_the_python_reference(spark: Any) -> None:
    table = feature_rows(400)
    frame = spark.createDataFrame(table).repartition(3)
    built = feature_entries(frame, 4, SET_ID).toArrow()
    assert built.schema.names == ["shard", "payload", "x"]
    entries = {}
    for shard, fields in zip(built["shard"].to_pylist(), built_fields(built, 1234), strict=True):
        entry = decode_feature_entry(fields, KNOWN)
        assert shard == shard_of(entry["user_id"], 4)
        entries[entry["transaction_id"]] = entry
    batch = table.combine_chunks().to_batches()[0]
    reference = [decode_feature_entry(f, KNOWN) for _, f in feature_fields(batch, FEATURES, 1234)]
    assert len(entries) == len(reference) == table.num_rows
    # parsed: keys and values; NaN != NaN, so the features are compared as bytes below
    strip = [{k: v for k, v in e.items() if k != "features"} for e in reference]
    assert {k: {n: v for n, v in e.items() if n != "features"} for k, e in entries.items()} == {
        e["transaction_id"]: e for e in strip
    }
    assert "is_fraud" not in entries["tx-0"] and "fraud_scenario" not in entries["tx-0"]
    assert entries["tx-1"]["is_fraud"] == 0 and "fraud_scenario" not in entries["tx-1"]
    assert entries["tx-1"]["event_time"] == "2026-01-05T10:00:37Z"
    assert entries["tx-0"]["merchant_id"] == 'q"uote'
    # every double, NaN and ±inf included, crosses the JVM and lands bit for bit
    sent = table[FEATURES_COLUMN].to_pylist()
    for i, x in enumerate(sent):
        got = np.array(list(entries[f"tx-{i}"]["features"].values()), "<f8")
        assert got.tobytes() == x
    assert sum(not np.isfinite(np.frombuffer(x, "<f8")).all() for x in sent) > 5


@pytest.mark.spark
def test_rows_without_features_in_any_session_time_zone(spark: Any) -> None:
    table = feature_rows(12).set_column(
        9, FEATURES_COLUMN, packed_features(np.empty((12, 0)))
    )  # the benchmark's passthrough
    batch = table.to_batches()[0]
    reference = [
        decode_feature_entry(f, {feature_set_id(()): ()}) for _, f in feature_fields(batch, (), 5)
    ]
    for zone in ("UTC", "Europe/Paris"):
        spark.conf.set("spark.sql.session.timeZone", zone)
        try:
            built = feature_entries(spark.createDataFrame(table), 4, feature_set_id(())).toArrow()
        finally:
            spark.conf.set("spark.sql.session.timeZone", "UTC")
        got = [decode_feature_entry(f, {feature_set_id(()): ()}) for f in built_fields(built, 5)]
        assert got == reference and got[0]["features"] == {}


@pytest.mark.spark
def test_shard_column_is_shard_of_for_many_ids(spark: Any) -> None:
    rng = random.Random(11)
    alphabet = "abcXYZ019-_:{}é€😀 "
    ids = [f"card-{i}" for i in range(3000)] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 30))) for _ in range(3000)
    ]
    table = feature_rows(len(ids)).set_column(1, "user_id", pa.array(ids))
    frame = spark.createDataFrame(table)
    for shards in (1, 4, 7, 64):
        built = feature_entries(frame, shards, SET_ID).toArrow()
        users = [orjson.loads(f[b"d"])["user_id"] for f in built_fields(built, 0)]
        assert sorted(users) == sorted(ids)
        assert built["shard"].to_pylist() == [shard_of(u, shards) for u in users]


# --------------------------------------------------------------------------- writing


def payload_array(payloads: list[bytes]) -> pa.RecordBatch:
    """Entries as the sink groups them: head JSON and packed features (one double each)."""
    xs = packed_features(np.arange(len(payloads), dtype=np.float64).reshape(-1, 1))
    return pa.record_batch({"payload": pa.array([p.decode() for p in payloads]), "x": xs})


@pytest.mark.redis
def test_a_replayed_batch_writes_nothing_twice(
    redis_server: LocalRedis, redis_client: redis.Redis, names: StreamNames
) -> None:
    writer = FeatureStreamWriter({"secret_redis_url": redis_server.url, "shards": "4"})
    payloads = payload_array([b'{"n": 1}', b'{"n": 2}'])
    assert writer._write_shard(redis_client, 1, payloads, "q:0", batch_id=5)
    assert not writer._write_shard(redis_client, 1, payloads, "q:0", batch_id=5)  # replay
    assert writer._write_shard(redis_client, 1, payloads, "q:0", batch_id=6)  # next batch
    assert writer._write_shard(redis_client, 1, payloads, "q2:0", batch_id=0)  # new checkpoint
    assert redis_client.xlen(names.key("features", 1)) == 6
    assert redis_client.hget(names.meta_key("stream-stats", 1), "rows_out") == b"6"
    # the skipped replay left no WATCH behind on the pooled connection
    with redis_client.pipeline(transaction=True) as pipe:
        pipe.incr("after")
        assert pipe.execute() == [1]


@pytest.mark.redis
def test_partitions_writing_one_shard_at_once_all_land(
    redis_server: LocalRedis, redis_client: redis.Redis, names: StreamNames
) -> None:
    """WATCH fires when another partition commits the shared marker: retry, never drop."""
    writer = FeatureStreamWriter({"secret_redis_url": redis_server.url, "shards": "4"})

    def task(partition: int) -> None:
        client = redis.Redis.from_url(redis_server.url)
        for batch in range(20):
            writer._write_shard(client, 2, payload_array([b"{}"] * 50), f"q:{partition}", batch)
        client.close()

    threads = [threading.Thread(target=task, args=(p,)) for p in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert redis_client.xlen(names.key("features", 2)) == 4 * 20 * 50


@pytest.mark.redis
def test_entries_land_byte_for_byte_in_their_shard_in_order(
    redis_server: LocalRedis, redis_client: redis.Redis, names: StreamNames
) -> None:
    # raw CR LF and multi-byte characters: the framing counts bytes
    texts = [f'{{"i":{i},"feature_ms":0,"s":"é€😀\r\n{"x" * (i * 37)}"}}' for i in range(60)]
    xs = [b"\r\n$1\r\n" * (i % 4) + np.float64(i).tobytes() for i in range(60)]
    shards = [i % 3 for i in range(60)]
    batches = [
        pa.record_batch(
            {
                "shard": pa.array(shards[a:b], pa.int32()),
                "payload": texts[a:b],
                "x": pa.array(xs[a:b], pa.binary()),
            }
        )
        for a, b in ((0, 25), (25, 25), (25, 60))
    ]
    before = int(time.time() * 1000)
    by_shard = group_by_shard(iter(batches))
    after = int(time.time() * 1000)
    assert sorted(by_shard) == [0, 1, 2]
    writer = FeatureStreamWriter({"secret_redis_url": redis_server.url, "shards": "4"})
    for shard, entries in by_shard.items():
        assert writer._write_shard(redis_client, shard, entries, "q:0", batch_id=1)
    for shard in range(3):
        fields = [f for _, f in redis_client.xrange(names.key("features", shard))]
        assert all(list(f) == [b"v", b"d", b"x"] and f[b"v"] == b"2" for f in fields)
        assert [f[b"x"] for f in fields] == [
            x for x, s in zip(xs, shards, strict=True) if s == shard
        ]
        stored = [f[b"d"] for f in fields]
        stamps = {int(m) for p in stored for m in re.findall(rb'"feature_ms":(\d+),', p)}
        assert stamps and all(before <= ms <= after for ms in stamps)  # as each batch came
        unstamped = [re.sub(rb'"feature_ms":\d+,', FEATURE_MS_SLOT.encode(), p) for p in stored]
        assert unstamped == [t.encode() for t, s in zip(texts, shards, strict=True) if s == shard]
    assert redis_client.xlen(names.key("features", 3)) == 0


def test_packed_xadds_are_what_redis_py_would_send() -> None:
    payloads = ['{"a":1}', "é€", "", "x\r\ny"]
    xs = [b"\x00" * 8, b"", b"\r\n", bytes(range(256))]
    entries = pa.record_batch({"payload": payloads, "x": pa.array(xs, pa.binary())})
    packed = bytes(pack_xadds("rtad:features:{1}", entries))
    expected = b"".join(
        pack_command(b"XADD", b"rtad:features:{1}", b"*", b"v", b"2", b"d", p.encode(), b"x", x)
        for p, x in zip(payloads, xs, strict=True)
    )
    assert packed == expected
    assert bytes(pack_xadds("k", entries.slice(0, 0))) == b""


@pytest.mark.redis
def test_a_key_that_is_not_a_stream_is_refused_before_anything_is_written(
    redis_server: LocalRedis, redis_client: redis.Redis, names: StreamNames
) -> None:
    key = names.key("features", 0)
    marker = names.meta_key("feature-sink", 0)
    redis_client.set(key, "not a stream")
    writer = FeatureStreamWriter({"secret_redis_url": redis_server.url, "shards": "4"})
    with pytest.raises(RtadError, match=r"^rtad:features:\{0\} holds a string, not a stream"):
        writer._write_shard(redis_client, 0, payload_array([b"{}"]), "q:0", batch_id=1)
    assert redis_client.hget(marker, "q:0") is None  # a retry will write the batch
    assert redis_client.ping()
    redis_client.delete(key)
    assert writer._write_shard(redis_client, 0, payload_array([b"{}"]), "q:0", batch_id=1)
    assert redis_client.xlen(key) == 1


@pytest.mark.redis
def test_an_xadd_failing_inside_exec_puts_the_marker_back(
    redis_server: LocalRedis, redis_client: redis.Redis, names: StreamNames
) -> None:
    """EXEC runs the rest when one command fails: the marker must not say "written"."""
    key, stats = names.key("features", 3), names.meta_key("stream-stats", 3)
    marker = names.meta_key("feature-sink", 3)
    writer = FeatureStreamWriter({"secret_redis_url": redis_server.url, "shards": "4"})
    assert writer._write_shard(redis_client, 3, payload_array([b"{}"] * 2), "q:0", batch_id=4)
    last = 2**64 - 1
    redis_client.xadd(key, {"v": "1"}, id=f"{last}-{last}")  # no ID left for XADD *
    with pytest.raises(RtadError, match=r"^3 of 3 entries not written to rtad:features:\{3\} "):
        writer._write_shard(redis_client, 3, payload_array([b"{}"] * 3), "q:0", batch_id=5)
    assert redis_client.hget(marker, "q:0") == b"4"  # as before the failed batch
    assert redis_client.hget(stats, "rows_out") == b"2"
    with pytest.raises(RtadError, match="not written"):  # a first batch: the marker is removed
        writer._write_shard(redis_client, 3, payload_array([b"{}"]), "q2:0", batch_id=0)
    assert redis_client.hget(marker, "q2:0") is None
    redis_client.delete(key)
    assert writer._write_shard(redis_client, 3, payload_array([b"{}"] * 3), "q:0", batch_id=5)
    assert redis_client.xlen(key) == 3 and redis_client.hget(marker, "q:0") == b"5"
