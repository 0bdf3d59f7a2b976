"""Spark streaming sink writing one feature entry per transaction into ``rtad:features:{s}``.

A Python Data Source writer (Arrow) rather than ``foreachBatch``: rows are written by the tasks
that computed them, in the same stage (no collect to the driver, no second job per batch), and
Arrow batches cross from the JVM ~7x faster than rows.

The entries are feature entries of encoding 2 (:mod:`rtad.common.feature_entry`). The rows
arrive as the processor emits them — ``shard``, ``payload`` (the head the source packed, see
:mod:`rtad.streaming.packed_records`) and ``features`` (packed doubles) — so the writer only
appends ``feature_ms`` and ``feature_set`` to the heads, groups the entries by shard and packs
the XADDs, all with Arrow kernels: no Python work per row.

Idempotent per (batch, partition): a task groups its rows by shard and writes each shard's
entries in one MULTI/EXEC together with a marker ``rtad:meta:feature-sink:{s}`` (same slot)
holding the last batch id written by this query's partition. A replayed batch — Spark re-runs
the last uncommitted one after a crash, with the same rows in the same partitions — finds its
marker and writes nothing twice. The marker is WATCHed, so a duplicate (speculative) task
racing the same partition cannot write either.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import redis
from pyspark import TaskContext
from pyspark.sql.datasource import (
    DataSource,
    DataSourceStreamArrowWriter,
    DataSourceStreamWriter,
    WriterCommitMessage,
)
from pyspark.sql.types import StructType

from rtad.common.encoding import FEATURE_ENCODING, X_FIELD, as_bytes, as_text
from rtad.common.errors import RtadError
from rtad.common.redis_streams import connect
from rtad.common.resp import (
    exchange,
    exchange_all,
    pack_command,
    pooled_connection,
    xadd_prefix,
)
from rtad.common.runtime import settle_heap
from rtad.common.streams import StreamNames
from rtad.streaming.processor import FEATURES_COLUMN, PAYLOAD_COLUMN, SHARD_COLUMN
from rtad.streaming.redis_source import stats_key

FORMAT = "rtad_features"
#: The sink's option naming the feature set of the rows (Spark lower-cases option names).
FEATURE_SET_OPTION = "feature_set"
#: The column of a shard's grouped entries holding their ``x`` field (the packed features).
X_COLUMN = "x"


@dataclass
class SinkCommit(WriterCommitMessage):
    """What one task wrote (``skipped`` rows belonged to an already written batch)."""

    written: int
    skipped: int


def sink_marker_key(names: StreamNames, shard: int) -> str:
    return names.meta_key("feature-sink", shard)


def finish_payloads(payloads: pa.Array, feature_ms: int, feature_set: str) -> pa.Array:
    """Packed heads (``{...,"ingest_ms":N}``) → entry heads: ``feature_ms`` and
    ``feature_set`` appended by Arrow kernels (one scalar tail for the whole batch).

    >>> finish_payloads(pa.array([b'{"ingest_ms":1}']), 2, "abc").to_pylist()
    [b'{"ingest_ms":1,"feature_ms":2,"feature_set":"abc"}']
    """
    tail = f',"feature_ms":{feature_ms},"feature_set":{orjson.dumps(feature_set).decode()}}}'
    return pc.binary_join_element_wise(
        pc.binary_slice(payloads.cast(pa.binary()), 0, -1), tail.encode(), b""
    )


class FeatureStreamWriter(DataSourceStreamArrowWriter):
    """Writes a task's feature rows, once per (query, batch, partition, shard)."""

    def __init__(self, options: Mapping[str, str]) -> None:
        self.url = options["secret_redis_url"]  # Spark's options are case-insensitive
        self.names = StreamNames(options.get("prefix", "rtad"), int(options.get("shards", "4")))
        feature_set = options.get(FEATURE_SET_OPTION)
        if not feature_set:
            raise RtadError(f"the feature sink needs the option {FEATURE_SET_OPTION!r}")
        self.feature_set = feature_set

    def write(self, iterator: Iterator[pa.RecordBatch]) -> SinkCommit:
        settle_heap()
        context = TaskContext.get()
        assert context is not None
        batch = context.getLocalProperty("streaming.sql.batchId")
        query_id = context.getLocalProperty("sql.streaming.queryId")
        if batch is None or query_id is None:  # without them idempotence would drop rows
            raise RuntimeError("the feature sink runs only inside a streaming query")
        batch_id = int(batch)
        writer_id = f"{query_id}:{context.partitionId()}"
        by_shard = group_by_shard(iterator, self.feature_set)
        client = connect(self.url)
        written = skipped = 0
        for shard, entries in sorted(by_shard.items()):
            if self._write_shard(client, shard, entries, writer_id, batch_id):
                written += entries.num_rows
            else:
                skipped += entries.num_rows
        client.close()
        return SinkCommit(written, skipped)

    def _write_shard(
        self, client: redis.Redis, shard: int, entries: pa.RecordBatch, writer: str, batch_id: int
    ) -> bool:
        """Write one shard's entries with the marker atomically; False if already written.

        WATCH marker, HGET, TYPE of the stream; then MULTI, the XADDs, HSET marker, HINCRBY
        stats, EXEC, all packed by hand. The marker hash is shared by every task writing the
        shard, so WATCH also fires when another partition commits: then look again, and write
        unless it was this partition.

        EXEC runs every queued command even when one fails, so an XADD failing inside it would
        still set the marker and a retry would skip rows never written. The one way an XADD
        fails there — the key holds something else than a stream — is refused before MULTI,
        and if an XADD fails all the same the marker and the row count are put back and the
        task fails: its retry may write some entries twice, but loses none.
        """
        key = self.names.key("features", shard)
        marker = sink_marker_key(self.names, shard).encode()
        stats = stats_key(self.names, shard).encode()
        writer_field = writer.encode()
        xadds = pack_xadds(key, entries)
        count = entries.num_rows
        transaction = [
            pack_command(b"MULTI"),
            xadds,
            pack_command(b"HSET", marker, writer_field, b"%d" % batch_id),
            pack_command(b"HINCRBY", stats, b"rows_out", b"%d" % count),
            pack_command(b"EXEC"),
        ]
        look = (
            pack_command(b"WATCH", marker)
            + pack_command(b"HGET", marker, writer_field)
            + pack_command(b"TYPE", key.encode())
        )
        with pooled_connection(client) as conn:
            while True:
                _ok, done, kind = exchange_all(conn, [look], 3)
                if as_text(kind) not in ("stream", "none"):
                    exchange(conn, [pack_command(b"UNWATCH")], 1)
                    raise RtadError(f"{key} holds a {as_text(kind)}, not a stream: nothing written")
                if done is not None and int(done) >= batch_id:
                    exchange(conn, [pack_command(b"UNWATCH")], 1)
                    return False
                # MULTI's OK, one QUEUED per command, then EXEC's results (None: WATCH fired)
                results = exchange(conn, transaction, count + 4)
                if results is None:
                    continue
                failed = [r for r in results[:count] if isinstance(r, Exception)]
                if failed:
                    undo = [
                        _marker_back(marker, writer_field, done),
                        pack_command(b"HINCRBY", stats, b"rows_out", b"%d" % -len(failed)),
                    ]
                    exchange(conn, undo, 2)
                    raise RtadError(
                        f"{len(failed)} of {count} entries not written to {key} "
                        f"({as_text(failed[0])}); a retry or a restart writes the batch again"
                    )
                error = next((r for r in results if isinstance(r, Exception)), None)
                if error is not None:
                    raise error
                return True

    def commit(self, messages: list[WriterCommitMessage | None], batchId: int) -> None:
        pass

    def abort(self, messages: list[WriterCommitMessage | None], batchId: int) -> None:
        pass


def _marker_back(marker: bytes, writer: bytes, before: Any) -> bytes:
    """The command that puts a partition's marker back as it was (``before``: None if unset)."""
    if before is None:
        return pack_command(b"HDEL", marker, writer)
    return pack_command(b"HSET", marker, writer, as_bytes(before))


def group_by_shard(
    batches: Iterator[pa.RecordBatch], feature_set: str
) -> dict[int, pa.RecordBatch]:
    """Each shard's entries — finished ``payload`` and ``x`` — in arrival order (``feature_ms``:
    when the batch came)."""
    parts: dict[int, list[pa.RecordBatch]] = defaultdict(list)
    for batch in batches:
        if not batch.num_rows:
            continue
        feature_ms = int(time.time() * 1000)
        payloads = finish_payloads(batch.column(PAYLOAD_COLUMN), feature_ms, feature_set)
        entries = pa.RecordBatch.from_arrays(
            [payloads, batch.column(FEATURES_COLUMN)], names=[PAYLOAD_COLUMN, X_COLUMN]
        )
        shards = batch.column(SHARD_COLUMN)
        for shard in pc.unique(shards).to_pylist():
            parts[shard].append(entries.filter(pc.equal(shards, shard)))
    return {
        shard: pa.Table.from_batches(chunks).combine_chunks().to_batches()[0]
        for shard, chunks in parts.items()
    }


def pack_xadds(key: str, entries: pa.RecordBatch) -> memoryview:
    """``XADD key * v 2 d <payload> x <x>`` for every entry, in the wire format, as one buffer
    (Arrow kernels: the lengths of the payloads and features, and the join of the parts)."""
    payloads = entries.column(PAYLOAD_COLUMN).cast(pa.binary())
    xs = entries.column(X_COLUMN).cast(pa.binary())

    def part(value: bytes) -> pa.Scalar:
        return pa.scalar(value, pa.binary())

    def lengths(data: pa.Array) -> pa.Array:
        return pc.binary_length(data).cast(pa.string()).cast(pa.binary())

    packed = pc.binary_join_element_wise(
        part(xadd_prefix(key, FEATURE_ENCODING, pairs=3) + b"$"),
        lengths(payloads),
        part(b"\r\n"),
        payloads,
        part(b"\r\n" + pack_command(X_FIELD)[4:] + b"$"),
        lengths(xs),
        part(b"\r\n"),
        xs,
        part(b"\r\n"),
        part(b""),
    )
    if not len(packed):
        return memoryview(b"")
    _, offsets, values = packed.buffers()
    bounds = np.frombuffer(offsets, np.int32)[[packed.offset, packed.offset + len(packed)]]
    return memoryview(values)[int(bounds[0]) : int(bounds[1])]


class FeatureSink(DataSource):
    """``writeStream.format("rtad_features")``: options ``secret_redis_url``, ``prefix``,
    ``shards``, ``feature_set`` (the id of the rows' features)."""

    @classmethod
    def name(cls) -> str:
        return FORMAT

    def streamWriter(self, schema: StructType, overwrite: bool) -> DataSourceStreamWriter:
        return FeatureStreamWriter(self.options)
