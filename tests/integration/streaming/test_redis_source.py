"""The Redis source's driver and executor sides against a real redis-server (no Spark needed:
offsets, admission control, partitions, deterministic reads, dead letters, commits)."""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa
import pytest
import redis
from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadMaxRows

from rtad.common.local_redis import LocalRedis
from rtad.common.redis_streams import parse_id
from rtad.common.streams import SPARK_GROUP, StreamNames
from rtad.streaming import redis_scripts
from rtad.streaming.packed_records import unpack
from rtad.streaming.records import RECORDS_COLUMN, SOURCE_SCHEMA, packed_of
from rtad.streaming.redis_source import ReadTask, RedisStreamReader, xrange_raw

from .txdata import produce, produce_raw, transactions

pytestmark = pytest.mark.redis


def reader(server: LocalRedis, **options: str) -> RedisStreamReader:
    return RedisStreamReader({"secret_redis_url": server.url, "shards": "4", **options})


def plan_everything(
    server: LocalRedis, split_rows: int
) -> tuple[RedisStreamReader, dict, dict, list[ReadTask]]:
    """A reader with ``splitRows``, and its read tasks for everything the streams hold now."""
    source = reader(server, splitRows=str(split_rows))
    start = source.initialOffset()
    end = source.latestOffset(start, ReadAllAvailable())
    tasks = source.partitions(start, end)
    assert all(isinstance(t, ReadTask) for t in tasks)
    return source, start, end, list(tasks)  # type: ignore[arg-type]


def task_rows(task: ReadTask) -> int:
    return sum(r.rows for r in task.ranges)


def read_all(source: RedisStreamReader, start: dict, end: dict) -> pa.Table:
    """The packed records the source's rows of a batch hold (one row per bucket and chunk)."""
    batches = [b for part in source.partitions(start, end) for b in source.read(part)]
    rows = pa.Table.from_batches(batches, schema=SOURCE_SCHEMA)
    return pa.table({"record": packed_of(rows.column(RECORDS_COLUMN).to_pylist())})


def test_admission_control_spreads_max_rows_over_shards(
    redis_server: LocalRedis, redis_client: redis.Redis, names: StreamNames
) -> None:
    produce(redis_client, names, transactions(200, users=20))
    source = reader(redis_server, maxRecordsPerBatch="40")
    start = source.initialOffset()
    assert start == {str(s): "0-0" for s in range(4)}
    assert source.getDefaultReadLimit() == ReadMaxRows(40)
    end = source.latestOffset(start, ReadMaxRows(40))
    assert read_all(source, start, end).num_rows == 40  # every shard holds more than 10
    everything = source.latestOffset(start, ReadAllAvailable())
    assert read_all(source, start, everything).num_rows == 200
    assert source.latestOffset(everything, ReadMaxRows(40)) == everything  # nothing new


def test_large_shard_range_is_split_and_reads_are_deterministic(
    redis_server: LocalRedis, redis_client: redis.Redis, names: StreamNames
) -> None:
    produce(redis_client, names, transactions(120, users=3))
    source, start, end, tasks = plan_everything(redis_server, split_rows=10)
    assert len(tasks) >= 12  # 120 rows, at most 10 per task
    assert all(task_rows(t) <= 10 for t in tasks)
    first = read_all(source, start, end)
    replanned = reader(redis_server, splitRows="10")  # a restarted driver re-plans the batch
    again = read_all(replanned, start, end)
    assert first.equals(again)
    heads = unpack(first.column("record")).heads.to_pylist()
    ids = [orjson.loads(h)["transaction_id"] for h in heads]
    assert sorted(ids) == sorted(f"tx-7-{i}" for i in range(120))


def test_short_ranges_of_several_shards_share_a_task(
    redis_server: LocalRedis, redis_client: redis.Redis, names: StreamNames
) -> None:
    produce(redis_client, names, transactions(100, users=40))
    source, start, end, tasks = plan_everything(redis_server, split_rows=60)
    assert len(tasks) < 4  # four separate tasks would need every two shards to pass 60 rows
    assert sum(map(task_rows, tasks)) == 100
    assert all(task_rows(t) <= 60 for t in tasks)
    assert read_all(source, start, end).num_rows == 100


def test_available_now_stops_at_the_data_present_when_prepared(
    redis_server: LocalRedis, redis_client: redis.Redis, names: StreamNames
) -> None:
    produce(redis_client, names, transactions(50, users=8, seed=1))
    source = reader(redis_server, maxRecordsPerBatch="1000")
    start = source.initialOffset()
    source.prepareForTriggerAvailableNow()
    produce(redis_client, names, transactions(50, users=8, seed=2))  # arrives later
    end = source.latestOffset(start, ReadMaxRows(1000))
    assert read_all(source, start, end).num_rows == 50
    assert source.latestOffset(end, ReadMaxRows(1000)) == end


def test_poison_entries_are_dead_lettered_once_and_reading_goes_on(
    redis_server: LocalRedis, redis_client: redis.Redis, names: StreamNames
) -> None:
    produce(redis_client, names, transactions(10, users=1, seed=3))
    key = names.key("tx", next(s for s in range(4) if redis_client.xlen(names.key("tx", s))))
    produce_raw(redis_client, key, {b"v": b"1", b"d": b"{not json"})
    produce_raw(redis_client, key, {b"v": b"9", b"d": b"{}"})
    produce_raw(redis_client, key, {b"v": b"1", b"d": b'{"transaction_id": "x", "amount": -1}'})
    produce(redis_client, names, transactions(10, users=1, seed=4))
    source = reader(redis_server)
    start = source.initialOffset()
    end = source.latestOffset(start, ReadAllAvailable())
    assert read_all(source, start, end).num_rows == 20
    read_all(source, start, end)  # a replay of the same batch
    shard = names.shard_from_key(key)
    letters = redis_client.xrange(names.key("deadletter", shard))
    assert len(letters) == 3
    reasons = [fields[b"reason"].decode() for _, fields in letters]
    assert "malformed JSON" in reasons[0]
    assert "encoding version" in reasons[1]
    assert letters[0][1][b"payload"] == b"{not json"
    assert letters[2][1][b"source"].decode().startswith(f"{key}/")
    assert all(fields[b"stage"] == b"stream" for _, fields in letters)


def test_a_continued_scan_finds_what_one_scan_finds(
    redis_client: redis.Redis, names: StreamNames
) -> None:
    produce(redis_client, StreamNames(shards=1), transactions(90, users=4, seed=8))
    key = names.key("tx", 0)
    whole = redis_scripts.scan(redis_client, key, "0-0", max_rows=70, step=20)
    assert (whole.count, len(whole.splits)) == (70, 3)
    nothing_yet = redis_scripts.Scan(0, "0-0", ())  # (max_rows 0 would mean "all")
    earlier = [
        redis_scripts.scan(redis_client, key, "0-0", max_rows=n, step=20) for n in (13, 20, 69, 70)
    ]
    for early in (nothing_yet, *earlier):
        assert redis_scripts.continue_scan(redis_client, key, early, max_rows=70, step=20) == whole
    everything = redis_scripts.scan(redis_client, key, "0-0", step=20)
    early = redis_scripts.scan(redis_client, key, "0-0", max_rows=33, step=20)
    assert redis_scripts.continue_scan(redis_client, key, early, step=20) == everything
    assert everything.count == 90


def test_the_next_batch_is_scanned_ahead_and_topped_up_with_what_arrived(
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    produce(redis_client, names, transactions(60, users=30, seed=9))
    source = reader(redis_server, maxRecordsPerBatch="40")
    start = source.initialOffset()
    end = source.latestOffset(start, ReadMaxRows(40))
    backlogged = {s for s in range(4) if redis_client.xlen(names.key("tx", s)) > 10}
    assert backlogged and set(source._ahead) == backlogged
    for ahead in source._ahead.values():  # what was there when this batch was planned
        ahead.result.result()
    produce(redis_client, names, transactions(100, users=30, seed=10))  # arrives meanwhile
    scanned_from = []
    scan = redis_scripts.scan

    def recording_scan(client: redis.Redis, key: str, after: str, *args: Any, **kw: Any) -> Any:
        scanned_from.append((names.shard_from_key(key), after))
        return scan(client, key, after, *args, **kw)

    monkeypatch.setattr(redis_scripts, "scan", recording_scan)
    following = source.latestOffset(end, ReadMaxRows(40))
    # a backlogged shard's range is not scanned again from this batch's end, only topped up
    assert not [s for s, after in scanned_from if s in backlogged and after == end[str(s)]]
    monkeypatch.undo()
    fresh = reader(redis_server, maxRecordsPerBatch="40")
    assert following == fresh.latestOffset(end, ReadMaxRows(40))
    assert read_all(source, end, following).num_rows == 40
    assert read_all(source, end, following).equals(read_all(fresh, end, following))
    source.stop()
    assert source._ahead_pool is None and not source._ahead


def test_commit_moves_the_spark_cursor_and_trims_only_what_is_committed(
    redis_server: LocalRedis, redis_client: redis.Redis, names: StreamNames
) -> None:
    produce(redis_client, names, transactions(80, users=10, seed=5))
    source = reader(redis_server, maxRecordsPerBatch="20")
    start = source.initialOffset()
    end = source.latestOffset(start, ReadMaxRows(20))
    source.commit(end)
    for shard in range(4):
        key = names.key("tx", shard)
        group = {g["name"].decode(): g for g in redis_client.xinfo_groups(key)}[SPARK_GROUP]
        assert group["last-delivered-id"].decode() == end[str(shard)]
        oldest = redis_client.xrange(key, count=1)
        assert parse_id(oldest[0][0]) > parse_id(end[str(shard)])
    assert sum(redis_client.xlen(names.key("tx", s)) for s in range(4)) == 60
    # a new checkpoint starts where the cursor group says Spark had committed
    assert reader(redis_server).initialOffset() == end


def test_raw_xrange_holds_what_redis_py_parses(
    redis_client: redis.Redis, names: StreamNames
) -> None:
    key = names.key("tx", 0)
    produce(redis_client, StreamNames(shards=1), transactions(30, users=4, seed=6))
    produce_raw(redis_client, key, {b"v": b"1", b"d": b"{not json"})
    produce_raw(redis_client, key, {b"x": b"y", b"v": b"1", b"d": b"{}", b"\xff": b"\x00\r\n"})
    parsed = redis_client.xrange(key, min="-", max="+")
    assert len(parsed) == 32
    raw = xrange_raw(redis_client, key, "-", "+", 1000)
    assert [(i, dict(zip(f[0::2], f[1::2], strict=True))) for i, f in raw] == parsed
    # exclusive start and COUNT as in the source's chunked reads
    after = parsed[9][0].decode()
    assert [e[0] for e in xrange_raw(redis_client, key, f"({after}", "+", 5)] == [
        i for i, _ in parsed[10:15]
    ]
    assert xrange_raw(redis_client, key, "(" + parsed[-1][0].decode(), "+", 5) == []
