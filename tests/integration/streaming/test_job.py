"""The feature query on a real local[2] Spark session and a real redis-server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
import redis

from rtad.common.feature_entry import FeatureSets, decode_feature_entry
from rtad.common.redis_streams import parse_id
from rtad.common.schema import to_dict
from rtad.common.streams import StreamNames, shard_of
from rtad.features import card_features as features
from rtad.features.table import FEATURE_COLUMNS
from rtad.streaming.job import input_rows, start_query
from rtad.streaming.processor import StateLayout
from rtad.streaming.session import CHECKPOINT_FILE_MANAGER, JVM_OPTIONS
from rtad.streaming.settings import StreamSettings

from .txdata import produce, produce_raw, transactions

pytestmark = [pytest.mark.spark, pytest.mark.redis]


def run_available_now(spark: Any, settings: StreamSettings) -> Any:
    query = start_query(spark, settings, settings.checkpoint_dir)
    try:
        assert query.awaitTermination(120), "an --available-now run did not finish"
    finally:
        query.stop()
    assert query.exception() is None
    return query


def feature_entries(client: redis.Redis, names: StreamNames) -> dict[int, list[tuple[bytes, dict]]]:
    """Every feature entry decoded, its features by the names the job registered."""
    sets = FeatureSets.from_redis(client, names.prefix)
    return {
        s: [(i, decode_feature_entry(f, sets)) for i, f in client.xrange(names.key("features", s))]
        for s in range(names.shards)
    }


def test_one_entry_per_transaction_poison_dead_lettered_and_a_rerun_writes_nothing(
    spark: Any, stream_settings: StreamSettings, redis_client: redis.Redis, names: StreamNames
) -> None:
    records = transactions(240, users=25, labels=True)
    unlabelled = transactions(20, users=5, seed=9, labels=False)
    produce(redis_client, names, records)
    produce_raw(redis_client, names.key("tx", 2), {b"v": b"1", b"d": b"not json"})
    produce(redis_client, names, unlabelled)
    tx_ms = {
        orjson.loads(f[b"d"])["transaction_id"]: parse_id(i)[0]
        for s in range(4)
        for i, f in redis_client.xrange(names.key("tx", s))
        if f[b"d"] != b"not json"
    }
    query = run_available_now(spark, stream_settings)
    # Spark counts the source's rows (a bucket of a chunk each); the job counts transactions
    assert sum(input_rows(p) for p in query.recentProgress) == len(tx_ms)
    assert sum(p.numInputRows for p in query.recentProgress) < len(tx_ms)
    entries = feature_entries(redis_client, names)
    # the processor wrote them, once per (batch, bucket, shard): every bucket has a marker
    buckets = StateLayout(buckets=stream_settings.state_buckets).bucket_keys()
    markers = {m for s in range(4) for m in redis_client.hkeys(names.feature_sink_marker_key(s))}
    assert markers == {f"{query.id}:bucket-{k}".encode() for k in buckets}
    rows = [row for shard_rows in entries.values() for _, row in shard_rows]
    assert sorted(r["transaction_id"] for r in rows) == sorted(tx_ms)
    for shard, shard_rows in entries.items():
        assert all(shard_of(row["user_id"], 4) == shard for _, row in shard_rows)
    by_id = {r["transaction_id"]: r for r in rows}
    fraud = next(tx for tx in records if tx.is_fraud)
    first = by_id[fraud.transaction_id]
    assert list(first["features"]) == list(FEATURE_COLUMNS)
    assert first["ingest_ms"] == tx_ms[fraud.transaction_id]
    assert first["feature_ms"] >= first["ingest_ms"]
    assert first["event_time"] == to_dict(fraud)["timestamp"].replace("+00:00", "Z")
    assert (first["is_fraud"], first["fraud_scenario"]) == (1, fraud.fraud_scenario)
    plain = by_id[unlabelled[0].transaction_id]
    assert "is_fraud" not in plain and "fraud_scenario" not in plain
    letters = redis_client.xrange(names.key("deadletter", 2))
    assert [f[b"payload"] for _, f in letters] == [b"not json"]
    # the cursor group followed the committed batches: every input entry was trimmed
    assert sum(redis_client.xlen(names.key("tx", s)) for s in range(4)) == 0

    run_available_now(spark, stream_settings)  # same streams, same checkpoint
    assert sum(redis_client.xlen(names.key("features", s)) for s in range(4)) == len(tx_ms)
    assert redis_client.xlen(names.key("deadletter", 2)) == 1


def streamed_features(client: redis.Redis, names: StreamNames) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"transaction_id": r["transaction_id"], **r["features"]}
            for rows in feature_entries(client, names).values()
            for _, r in rows
        ]
    ).set_index("transaction_id")


def batch_pass(records: list) -> pd.DataFrame:
    frame = pd.DataFrame([to_dict(tx) for tx in records])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return features.batch_features(frame).set_index("transaction_id")


def test_streaming_features_equal_batch_features(
    spark: Any, stream_settings: StreamSettings, redis_client: redis.Redis, names: StreamNames
) -> None:
    """No training/serving skew: micro-batches of 50 rows give what one batch pass gives."""
    records = transactions(200, users=8, seed=21)
    half = len(records) // 2
    produce(redis_client, names, records[:half])
    small_batches = stream_settings.model_copy(update={"max_records_per_batch": 50})
    run_available_now(spark, small_batches)
    produce(redis_client, names, records[half:])  # the state carries over between runs
    run_available_now(spark, small_batches)
    streamed, batch = streamed_features(redis_client, names), batch_pass(records)
    columns = list(FEATURE_COLUMNS)
    assert len(streamed) == len(batch) == len(records)
    # the doubles cross the JVM and Redis as bytes: the same bits, not merely close
    np.testing.assert_array_equal(
        streamed.loc[batch.index, columns].to_numpy(dtype=float),
        batch[columns].to_numpy(dtype=float),
    )


def test_the_state_cache_is_read_under_its_tag_and_never_after_a_write_it_missed(
    spark: Any, stream_settings: StreamSettings, redis_client: redis.Redis, names: StreamNames
) -> None:
    from rtad.streaming import card_state

    records = transactions(240, users=10, seed=23)
    thirds = [records[:80], records[80:160], records[160:]]
    cache_dir = stream_settings.state_cache_dir
    assert cache_dir is not None
    produce(redis_client, names, thirds[0])
    run_available_now(spark, stream_settings)
    files = [p for p in cache_dir.rglob("*") if p.is_file()]
    assert files  # one per bucket written
    # a file still under the store's tag is what the next batch reads: emptied, the cards
    # start afresh (their history counts drop), which proves the read came from the file
    for path in files:
        tag, _, _ = path.read_bytes().partition(b"\n")
        path.write_bytes(tag + b"\n" + card_state.to_bytes(card_state.empty_table()))
    produce(redis_client, names, thirds[1])
    run_available_now(spark, stream_settings)
    streamed, batch = streamed_features(redis_client, names), batch_pass(records[:160])
    second = [tx.transaction_id for tx in thirds[1]]
    count = "history_log_count"
    assert (streamed.loc[second, count] < batch.loc[second, count]).all()

    # the cache off for a run: the slots get new tags, so the old files are never read again
    redis_client.flushdb()
    produce(redis_client, names, thirds[0])
    fresh = stream_settings.model_copy(
        update={"checkpoint_dir": stream_settings.checkpoint_dir.with_name("fresh")}
    )
    run_available_now(spark, fresh)
    off = fresh.model_copy(update={"state_cache": False})
    produce(redis_client, names, thirds[1])
    run_available_now(spark, off)
    produce(redis_client, names, thirds[2])
    run_available_now(spark, fresh)
    columns = list(FEATURE_COLUMNS)
    streamed, batch = streamed_features(redis_client, names), batch_pass(records)
    assert len(streamed) == len(records)
    np.testing.assert_array_equal(
        streamed.loc[batch.index, columns].to_numpy(dtype=float),
        batch[columns].to_numpy(dtype=float),
    )


@pytest.mark.parametrize("tasks", [2, 4])
def test_spark_sends_the_same_number_of_buckets_to_every_task(spark: Any, tasks: int) -> None:
    from pyspark.sql import functions as F  # noqa: N812

    from rtad.streaming.processor import StateLayout
    from rtad.streaming.spark_hash import hash_long

    keys = StateLayout(buckets=16).bucket_keys()
    frame = spark.createDataFrame([(k,) for k in keys], "k bigint")
    hashed = frame.select("k", F.hash("k").alias("h")).collect()
    assert {row.k: row.h for row in hashed} == {k: hash_long(k) for k in keys}
    # the hash partitioning a groupBy uses: every task gets 16 / tasks buckets
    spread = frame.repartition(tasks, "k").groupBy(F.spark_partition_id()).count().collect()
    assert sorted(row["count"] for row in spread) == [16 // tasks] * tasks


def test_checkpoint_renames_start_no_process(spark: Any, tmp_path: Path) -> None:
    """The manager Spark builds for a checkpoint of this session: the FileSystem-based one
    (the default FileContext-based one runs `readlink` for every rename on a local disk)."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(tmp_path.as_uri())
    hadoop_conf = spark._jsparkSession.sessionState().newHadoopConf()
    checkpointing = jvm.org.apache.spark.sql.execution.streaming.checkpointing
    manager = checkpointing.CheckpointFileManager.create(path, hadoop_conf)
    assert manager.getClass().getName() == CHECKPOINT_FILE_MANAGER


def test_the_jvm_runs_with_the_sessions_options(spark: Any) -> None:
    """The session's JVM was started with the options of ``spark_conf`` (C1 JIT only, the
    parallel collector), and executors of a cluster get them too."""
    jvm = spark.sparkContext._jvm
    management = jvm.java.lang.management.ManagementFactory
    arguments = list(management.getRuntimeMXBean().getInputArguments())
    executor_options = spark.sparkContext.getConf().get("spark.executor.extraJavaOptions")
    for option in JVM_OPTIONS.split():
        assert option in arguments
        assert option in executor_options.split()  # after Spark's own defaults
    collectors = {bean.getName() for bean in management.getGarbageCollectorMXBeans()}
    assert collectors == {"PS Scavenge", "PS MarkSweep"}


def test_the_metrics_listener_counts_transactions_not_source_rows(
    spark: Any, stream_settings: StreamSettings, redis_client: redis.Redis, names: StreamNames
) -> None:
    from rtad.streaming import metrics

    produce(redis_client, names, transactions(150, users=12, seed=4))
    listener = metrics.MetricsListener(spark, metrics.RedisCounters(redis_client, names))
    rows_in, rows_out = metrics.ROWS_IN._value.get(), metrics.ROWS_OUT._value.get()
    spark.streams.addListener(listener)
    try:
        run_available_now(spark, stream_settings)
        deadline = time.monotonic() + 20  # the listener bus delivers events asynchronously
        while metrics.ROWS_IN._value.get() - rows_in < 150 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        spark.streams.removeListener(listener)
    assert metrics.ROWS_IN._value.get() - rows_in == 150
    assert metrics.ROWS_OUT._value.get() - rows_out == 150
