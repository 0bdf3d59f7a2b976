"""Spark streaming source over the sharded ``rtad:tx:{s}`` Redis streams (Python Data Source).

Offsets are the last stream ID read per shard (``{"0": "1700000000000-3", ...}``); a micro-batch
reads ``(start, end]`` of each shard with XRANGE, so a replayed batch reads the same rows.
Admission control: ``getDefaultReadLimit`` is ``ReadMaxRows(maxRecordsPerBatch)``, spread over
the shards. A read task reads up to ``splitRows`` rows: a longer shard range is split over
several tasks, and short ranges of several shards are read by one task (each task pays for
scheduling, a Python worker hand-over and a connection whatever its size). ``commit(end)``
moves the cursor group ``spark`` to ``end`` and trims what every reader has committed, so
producers' backpressure sees how far Spark has read.

Planning a batch counts its rows: a server-side scan of each shard's range (IDs only cross the
network), a noticeable part of a large batch, during which Spark runs nothing else. So when a
shard holds more than a batch (a backlog, a replay), the next batch's scan starts as soon as
this batch is planned and runs while it is processed; the next ``latestOffset`` takes the
result and scans only what arrived after it (a stream only grows at its end, so the entries
counted are still there and still in order).

>>> # spark.dataSource.register(RedisStreamSource)
>>> # spark.readStream.format("rtad_redis").option("secret_redis_url", url).load()
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import redis
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxRows,
    SupportsTriggerAvailableNow,
)
from pyspark.sql.types import StructType

from rtad.common.encoding import as_text
from rtad.common.redis_streams import connect, parse_id, set_cursor, trim_to_committed
from rtad.common.resp import exchange, pack_command, pooled_connection
from rtad.common.runtime import paused_gc, settle_heap
from rtad.common.streams import SPARK_GROUP, StreamNames
from rtad.streaming import redis_scripts
from rtad.streaming.records import SOURCE_DDL, Entry, by_bucket, to_record_batch
from rtad.streaming.spark_hash import bucket_keys

FORMAT = "rtad_redis"
START = "0-0"
READ_CHUNK = 5_000


def shard_limits(max_rows: int, shards: int) -> list[int]:
    """Split a batch's row budget over the shards (every shard gets at least one row).

    >>> shard_limits(10, 4)
    [3, 3, 2, 2]
    """
    base, extra = divmod(max_rows, shards)
    return [max(1, base + (1 if s < extra else 0)) for s in range(shards)]


@dataclass(frozen=True)
class ShardRange:
    """Entries ``(after, upto]`` of one shard's stream, about ``rows`` of them."""

    shard: int
    after: str
    upto: str
    rows: int = 0


@dataclass(frozen=True)
class ScanAhead:
    """A scan started before it is needed: what it was asked, and its result to come."""

    after: str
    upto: str
    max_rows: int
    result: Future[redis_scripts.Scan]


@dataclass(frozen=True)
class ReadTask(InputPartition):
    """One Spark task's read: one or more shard ranges, read one after the other."""

    ranges: tuple[ShardRange, ...]


def pack_ranges(ranges: Sequence[ShardRange], task_rows: int) -> list[ReadTask]:
    """Group consecutive ranges into tasks of at most ``task_rows`` rows (a larger range alone).

    >>> ranges = [ShardRange(shard, "0-0", "9-0", rows=30) for shard in range(4)]
    >>> [len(task.ranges) for task in pack_ranges(ranges, 60)]
    [2, 2]
    """
    tasks: list[ReadTask] = []
    current: list[ShardRange] = []
    rows = 0
    for piece in ranges:
        if current and rows + piece.rows > task_rows:
            tasks.append(ReadTask(tuple(current)))
            current, rows = [], 0
        current.append(piece)
        rows += piece.rows
    if current:
        tasks.append(ReadTask(tuple(current)))
    return tasks


class RedisStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Reads the input shards; see the module docstring for offsets and commits."""

    def __init__(self, options: Mapping[str, str]) -> None:
        # Spark hands the options over with lower-cased keys
        options = {key.lower(): value for key, value in options.items()}
        self.url = options["secret_redis_url"]
        self.names = StreamNames(options.get("prefix", "rtad"), int(options.get("shards", "4")))
        self.max_rows = int(options.get("maxrecordsperbatch", "100000"))
        self.split_rows = int(options.get("splitrows", "50000"))
        self.starting = options.get("startingoffsets", "cursor")
        self.keys = bucket_keys(int(options.get("statebuckets", "4")))
        self._target: dict[str, str] | None = None
        self._splits: dict[tuple[int, str, str], redis_scripts.Scan] = {}
        self._committed: dict[str, str] = {}
        self._client: Any = None
        self._ahead: dict[int, ScanAhead] = {}
        self._ahead_pool: ThreadPoolExecutor | None = None

    def __getstate__(self) -> dict[str, Any]:
        # the reader travels to the Python workers for read(): live clients and threads do not
        state = self.__dict__.copy()
        state.update(_client=None, _ahead={}, _ahead_pool=None)
        return state

    def _driver_client(self) -> Any:
        """One client for every driver-side call (offsets, splits, commits), made on first use.

        Spark asks for offsets and commits at every micro-batch: a new client each time would
        pay a connection and a PING per call.
        """
        if self._client is None:
            self._client = connect(self.url)
        return self._client

    # ---------------------------------------------------------------- driver side
    def initialOffset(self) -> dict[str, str]:
        client = self._driver_client()
        offsets = {}
        for shard in range(self.names.shards):
            key = self.names.key("tx", shard)
            offsets[str(shard)] = self._starting_id(client, key)
        return offsets

    def _starting_id(self, client: Any, key: str) -> str:
        if self.starting == "earliest":
            return START
        last = _last_id(client, key)
        if self.starting == "latest":
            return last
        for group in _groups(client, key):
            if as_text(group["name"]) == SPARK_GROUP:
                return as_text(group["last-delivered-id"])
        return START

    def getDefaultReadLimit(self) -> ReadLimit:
        return ReadMaxRows(self.max_rows)

    def prepareForTriggerAvailableNow(self) -> None:
        client = self._driver_client()
        self._target = {
            str(s): _last_id(client, self.names.key("tx", s)) for s in range(self.names.shards)
        }

    def latestOffset(self, start: dict[str, str], limit: ReadLimit) -> dict[str, str]:
        client = self._driver_client()
        # Spark plans a batch only after the previous one is committed, so ``start`` is
        # committed; but it calls commit(end) only when it constructs the NEXT batch, so the
        # last batch before an idle spell (or of an --available-now run) would stay unrecorded.
        self._record_committed(client, start)
        unlimited = isinstance(limit, ReadAllAvailable)
        budget = limit.max_rows if isinstance(limit, ReadMaxRows) else self.max_rows
        limits = shard_limits(budget, self.names.shards)
        end = {}
        for shard in range(self.names.shards):
            after = start.get(str(shard), START)
            upto = self._target[str(shard)] if self._target else "+"
            if self._target and parse_id(after) >= parse_id(upto):
                end[str(shard)] = after
                continue
            max_rows = 0 if unlimited else limits[shard]
            found = self._scan(client, shard, after, upto, max_rows)
            end[str(shard)] = found.last
            self._splits = {k: v for k, v in self._splits.items() if k[1] != after}
            self._splits[(shard, after, found.last)] = found
            if max_rows and found.count >= max_rows:  # more than a batch waits: scan ahead
                self._scan_ahead(shard, found.last, upto, max_rows)
        return end

    def _scan(
        self, client: Any, shard: int, after: str, upto: str, max_rows: int
    ) -> redis_scripts.Scan:
        """What ``(after, upto]`` of ``shard`` holds, up to ``max_rows`` (0: all): the scan
        started ahead for it if there is one, continued to now (else all of it now)."""
        early = redis_scripts.Scan(0, after, ())  # nothing counted yet
        ahead = self._ahead.pop(shard, None)
        if ahead is not None and (ahead.after, ahead.upto, ahead.max_rows) == (
            after,
            upto,
            max_rows,
        ):
            try:
                early = ahead.result.result()
            except redis.RedisError:  # the connection failed meanwhile: scan now, say it there
                pass
        key = self.names.key("tx", shard)
        return redis_scripts.continue_scan(
            client, key, early, upto, max_rows=max_rows, step=self.split_rows
        )

    def _scan_ahead(self, shard: int, after: str, upto: str, max_rows: int) -> None:
        """Start scanning the range the next batch of ``shard`` will ask for (from ``after``,
        this batch's end) on a thread; :meth:`_scan` takes it. The thread shares the driver's
        client: redis-py's client and its connection pool are thread-safe."""
        if self._ahead_pool is None:
            self._ahead_pool = ThreadPoolExecutor(1, thread_name_prefix="rtad-scan-ahead")
        key = self.names.key("tx", shard)
        result = self._ahead_pool.submit(
            redis_scripts.scan,
            self._driver_client(),
            key,
            after,
            upto,
            max_rows=max_rows,
            step=self.split_rows,
        )
        self._ahead[shard] = ScanAhead(after, upto, max_rows, result)

    def stop(self) -> None:
        """The query stopped: end the scan-ahead thread and close the driver's connection."""
        if self._ahead_pool is not None:
            self._ahead_pool.shutdown(wait=True, cancel_futures=True)
            self._ahead_pool = None
        self._ahead.clear()
        if self._client is not None:
            self._client.close()
            self._client = None

    def partitions(self, start: dict[str, str], end: dict[str, str]) -> Sequence[InputPartition]:
        pieces: list[ShardRange] = []
        for shard in range(self.names.shards):
            lo, hi = start.get(str(shard), START), end.get(str(shard), START)
            if parse_id(hi) <= parse_id(lo):
                continue
            found = self._splits.get((shard, lo, hi))
            if found is None:  # planned by an earlier run (replay after a restart): rescan
                key = self.names.key("tx", shard)
                found = redis_scripts.scan(self._driver_client(), key, lo, hi, step=self.split_rows)
            splits = [s for s in found.splits if parse_id(s) < parse_id(hi)]
            bounds = [lo, *splits, hi]
            # every piece but the last holds split_rows entries (the scan's step)
            sizes = [self.split_rows] * len(splits) + [found.count - self.split_rows * len(splits)]
            pieces += [
                ShardRange(shard, a, b, n)
                for a, b, n in zip(bounds[:-1], bounds[1:], sizes, strict=True)
            ]
        return pack_ranges(pieces, self.split_rows)

    def commit(self, end: dict[str, str]) -> None:
        self._record_committed(self._driver_client(), end)

    def _record_committed(self, client: Any, offsets: dict[str, str]) -> None:
        """Move the ``spark`` cursor group to ``offsets``, trim, forget old dead-letter marks."""
        for shard in range(self.names.shards):
            offset = offsets.get(str(shard), START)
            if offset == START or self._committed.get(str(shard)) == offset:
                continue
            key = self.names.key("tx", shard)
            set_cursor(client, key, SPARK_GROUP, offset)
            trim_to_committed(client, key)
            # a replay never goes below a committed offset: older dead-letter marks are done
            seen = self.names.stream_deadlettered_key(shard)
            client.zremrangebyscore(seen, "-inf", f"({parse_id(offset)[0]}")
            self._committed[str(shard)] = offset

    # ---------------------------------------------------------------- executor side
    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        assert isinstance(partition, ReadTask)
        settle_heap()
        client = connect(self.url)
        try:
            for piece in partition.ranges:
                yield from self._read_range(client, piece)
        finally:
            client.close()

    def _read_range(self, client: Any, piece: ShardRange) -> Iterator[pa.RecordBatch]:
        key = self.names.key("tx", piece.shard)
        dlq_keys = (
            self.names.key("deadletter", piece.shard),
            self.names.stream_deadlettered_key(piece.shard),
            self.names.stream_stats_key(piece.shard),
        )
        after = piece.after
        while parse_id(after) < parse_id(piece.upto):
            with paused_gc():
                entries = xrange_raw(client, key, f"({after}", piece.upto, READ_CHUNK)
                if not entries:
                    break
                batch, dead = to_record_batch(entries, key, piece.shard)
            redis_scripts.deadletter_once(client, dlq_keys, dead)
            if batch.num_rows:
                yield by_bucket(batch, self.keys)
            after = as_text(entries[-1][0])


class RedisStreamSource(DataSource):
    """``spark.readStream.format("rtad_redis")``: options ``secret_redis_url`` (the name makes
    Spark redact it), ``prefix``, ``shards``, ``maxRecordsPerBatch``, ``splitRows``,
    ``startingOffsets`` (cursor | earliest | latest), ``stateBuckets`` (the job's state
    buckets: a row per bucket of each chunk read, see :func:`rtad.streaming.records.by_bucket`)."""

    @classmethod
    def name(cls) -> str:
        return FORMAT

    def schema(self) -> StructType | str:
        return SOURCE_DDL

    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        return RedisStreamReader(self.options)


def xrange_raw(client: Any, key: str, low: str, high: str, count: int) -> list[Entry]:
    """``XRANGE key low high COUNT count`` as Redis sends it: ``[[id, [field, value, ...]],
    ...]``, with no dict per entry (redis-py's XRANGE callback costs more than the read itself)."""
    command = pack_command(
        b"XRANGE", key.encode(), low.encode(), high.encode(), b"COUNT", b"%d" % count
    )
    with pooled_connection(client) as conn:
        entries: list[Entry] = exchange(conn, [command], 1)
    return entries


def _last_id(client: Any, key: str) -> str:
    newest = client.xrevrange(key, count=1)
    return as_text(newest[0][0]) if newest else START


def _groups(client: Any, key: str) -> list[dict[str, Any]]:
    try:
        return list(client.xinfo_groups(key))
    except redis.ResponseError:  # no such key yet
        return []
