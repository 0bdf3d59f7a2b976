"""Writing the feature entries, one per transaction, into ``rtad:features:{s}``.

The stateful processor writes its own rows (:class:`FeatureWriter`, called from
:mod:`rtad.streaming.processor`): the features leave the Python worker that computed them
straight for Redis. Emitting them to Spark for a sink would convert every row from Arrow to
Spark's rows and back into a third Python worker. The query's sink is then Spark's ``noop``.

The entries are feature entries of encoding 2, packed by :mod:`rtad.common.feature_entry`'s
batch encoder. The processor hands over ``shard``, ``payload`` (the head the source packed,
see :mod:`rtad.streaming.packed_records`) and ``features`` (packed doubles) a row; the writer
appends ``feature_ms`` and ``feature_set`` to the heads, groups the entries by shard and packs
the XADDs, all with Arrow kernels: no Python work per row.

Idempotent per (batch, bucket): a bucket — Spark's grouping key, handled by one task a batch —
writes each shard's entries in one MULTI/EXEC together with a marker
(:meth:`~rtad.common.streams.StreamNames.feature_sink_marker_key`, same slot) holding the last
batch id written by this query's bucket. A replayed batch — Spark re-runs the last uncommitted
one after a crash, with the same offsets and therefore the same rows in each bucket, and its
state as it was before that batch — finds its marker and writes nothing twice. The marker is
WATCHed, so a duplicate (speculative) task racing the same bucket cannot write either.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyspark import TaskContext

from rtad.common.encoding import as_bytes, as_text
from rtad.common.errors import RtadError
from rtad.common.feature_entry import finish_heads, pack_feature_xadds
from rtad.common.redis_streams import connect
from rtad.common.resp import exchange, exchange_all, pack_command, pooled_connection
from rtad.common.streams import StreamNames

#: The columns of the rows handed to :meth:`FeatureWriter.write`: the row's shard, its entry
#: head (without ``feature_ms`` and ``feature_set``) and its features packed as in a feature
#: entry's ``x`` field (float64 little-endian).
SHARD_COLUMN, PAYLOAD_COLUMN, FEATURES_COLUMN = "shard", "payload", "features"
#: The column of a shard's grouped entries holding their ``x`` field (the packed features).
X_COLUMN = "x"


@dataclass(frozen=True)
class SinkTarget:
    """Where the features go: the Redis URL and the streams."""

    url: str
    names: StreamNames


def streaming_batch() -> tuple[str, int]:
    """The running task's query id and micro-batch id (Spark's local properties)."""
    context = TaskContext.get()
    batch = context.getLocalProperty("streaming.sql.batchId") if context else None
    query_id = context.getLocalProperty("sql.streaming.queryId") if context else None
    if batch is None or query_id is None:  # without them idempotence would drop rows
        raise RtadError("feature entries are written only inside a streaming query's task")
    return query_id, int(batch)


class FeatureWriter:
    """Writes feature rows of one feature set, once per (query, batch, writer, shard); one
    Redis client."""

    def __init__(self, target: SinkTarget, feature_set: str) -> None:
        self.names = target.names
        self.feature_set = feature_set
        self.client = connect(target.url)

    def write(self, rows: pa.RecordBatch, writer: str) -> None:
        """Write ``rows`` (shard, payload, features) of this task's batch for ``writer``,
        a name unique within the query that handles the same rows in a replay (a bucket).
        A shard whose rows this writer already wrote in this batch is skipped."""
        query_id, batch_id = streaming_batch()
        for shard, entries in sorted(group_by_shard([rows], self.feature_set).items()):
            self.write_shard(shard, entries, f"{query_id}:{writer}", batch_id)

    def close(self) -> None:
        self.client.close()

    def write_shard(self, shard: int, entries: pa.RecordBatch, writer: str, batch_id: int) -> bool:
        """Write one shard's entries with the marker atomically; False if already written.

        WATCH marker, HGET, TYPE of the stream; then MULTI, the XADDs, HSET marker, HINCRBY
        stats, EXEC, all packed by hand. The marker hash is shared by every task writing the
        shard, so WATCH also fires when another writer commits: then look again, and write
        unless it was this writer.

        EXEC runs every queued command even when one fails, so an XADD failing inside it would
        still set the marker and a retry would skip rows never written. The one way an XADD
        fails there — the key holds something else than a stream — is refused before MULTI,
        and if an XADD fails all the same the marker and the row count are put back and the
        task fails: its retry may write some entries twice, but loses none.
        """
        key = self.names.key("features", shard)
        marker = self.names.feature_sink_marker_key(shard).encode()
        stats = self.names.stream_stats_key(shard).encode()
        writer_field = writer.encode()
        xadds = pack_feature_xadds(key, entries.column(PAYLOAD_COLUMN), entries.column(X_COLUMN))
        count = entries.num_rows
        transaction: list[bytes | memoryview] = [
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
        with pooled_connection(self.client) as conn:
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


def _marker_back(marker: bytes, writer: bytes, before: Any) -> bytes:
    """The command that puts a writer's marker back as it was (``before``: None if unset)."""
    if before is None:
        return pack_command(b"HDEL", marker, writer)
    return pack_command(b"HSET", marker, writer, as_bytes(before))


def group_by_shard(
    batches: Iterable[pa.RecordBatch], feature_set: str
) -> dict[int, pa.RecordBatch]:
    """Each shard's entries — finished ``payload`` and ``x`` — in arrival order (``feature_ms``:
    when the batch came)."""
    parts: dict[int, list[pa.RecordBatch]] = defaultdict(list)
    for batch in batches:
        if not batch.num_rows:
            continue
        feature_ms = int(time.time() * 1000)
        payloads = finish_heads(batch.column(PAYLOAD_COLUMN), feature_ms, feature_set)
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
