"""Spark streaming sink writing one feature entry per transaction into ``rtad:features:{s}``.

A Python Data Source writer (Arrow) rather than ``foreachBatch``: rows are written by the tasks
that computed them, in the same stage (no collect to the driver, no second job per batch), and
Arrow batches cross from the JVM ~7x faster than rows.

The entries are built by Spark itself (:func:`feature_entries`: the shard and the JSON of each
row, in the JVM), so the writer only stamps ``feature_ms``, groups the entries by shard and
packs the XADDs, all with Arrow kernels: no Python work per row.

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
from pyspark.sql import Column, DataFrame
from pyspark.sql.datasource import (
    DataSource,
    DataSourceStreamArrowWriter,
    DataSourceStreamWriter,
    WriterCommitMessage,
)
from pyspark.sql.types import StructType

from rtad.common.encoding import as_bytes, as_text
from rtad.common.errors import RtadError
from rtad.common.redis_streams import connect
from rtad.common.resp import (
    exchange,
    exchange_all,
    pack_command,
    pooled_connection,
    xadd_prefix,
)
from rtad.common.streams import StreamNames
from rtad.streaming.processor import FEATURE_PREFIX
from rtad.streaming.redis_source import stats_key

FORMAT = "rtad_features"
#: The sink's input columns (see :func:`feature_entries`).
SHARD_COLUMN, PAYLOAD_COLUMN = "shard", "payload"
#: Spark writes this in every entry; the writer puts the time the rows reach it in its place.
FEATURE_MS_SLOT = '"feature_ms":0,'
#: Spark's JSON options: timestamps in UTC with microseconds whatever the session's time zone,
#: and null fields written (a null feature stays, as null; a null label is removed afterwards).
_JSON_OPTIONS = {
    "timeZone": "UTC",
    "timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
    "ignoreNullFields": "false",
}
_FIXES = (
    ('.000000Z","ingest_ms":', 'Z","ingest_ms":'),
    (',"is_fraud":null', ""),
    (',"fraud_scenario":null', ""),
)
_LABELS = ("is_fraud", "fraud_scenario")
_HEAD = (
    "transaction_id", "user_id", "merchant_id", "amount", "currency", "event_time", "ingest_ms",
)  # fmt: skip


@dataclass
class SinkCommit(WriterCommitMessage):
    """What one task wrote (``skipped`` rows belonged to an already written batch)."""

    written: int
    skipped: int


def sink_marker_key(names: StreamNames, shard: int) -> str:
    return names.meta_key("feature-sink", shard)


def feature_entries(rows: DataFrame, shards: int) -> DataFrame:
    """The sink's input: each feature row's ``shard`` and ``payload``, its entry JSON built by
    Spark in the JVM (one ``to_json``), which the writer finishes with :func:`finish_payloads`.

    ``shard`` is :func:`rtad.common.streams.shard_of` (CRC-32 of the UTF-8 ``user_id``). A NaN
    or infinite feature is ``null``, as orjson wrote it (the scorer refuses the row with a
    reason). Anything more in the JVM — a second ``to_json`` for the labels, string splicing,
    one ``to_json`` per label combination — costs more than the JSON itself (JVM CPU with 29
    features: ~13 µs a row as is, ~29 with a second ``to_json`` and a splice).
    """
    from pyspark.sql import functions as F  # noqa: N812 (Spark's own convention)

    names = [n for n in rows.columns if n.startswith(FEATURE_PREFIX)]
    clash = {n[len(FEATURE_PREFIX) :] for n in names} & set(_LABELS)
    if clash:  # finish_payloads finds the null labels by their text
        raise RtadError(f"feature names {sorted(clash)} are the names of labels")
    features = F.struct(*map(_finite, names)).alias("features")
    entry = F.struct(*_HEAD, F.lit(0).alias("feature_ms"), features, *_LABELS)
    payload = F.to_json(entry, _JSON_OPTIONS)
    shard = F.pmod(F.crc32(F.col("user_id").cast("binary")), F.lit(shards)).cast("int")
    return rows.select(shard.alias(SHARD_COLUMN), payload.alias(PAYLOAD_COLUMN))


def _finite(column: str) -> Column:
    """A feature column under its entry name, NaN and ±infinity as null."""
    from pyspark.sql import functions as F  # noqa: N812

    value = F.col(column)
    bad = F.isnan(value) | (F.abs(value) == F.lit(float("inf")))
    return F.when(bad, F.lit(None)).otherwise(value).alias(column[len(FEATURE_PREFIX) :])


def finish_payloads(payloads: pa.Array, feature_ms: int) -> pa.Array:
    """Spark's JSON (:func:`feature_entries`) → feature entries, by Arrow kernels: ``feature_ms``
    stamped, a whole-second ``event_time`` without ``.000000`` and the null labels left out,
    as orjson wrote them.

    Each is found by its text, and its first occurrence is the one: the quotes around a key
    cannot occur inside a string value (JSON escapes them), ``feature_ms`` comes before the
    features, ``event_time`` (a string) is the key before ``ingest_ms``, and no feature is
    named like a label (see :func:`feature_entries`).
    """
    out = pc.replace_substring(
        payloads, FEATURE_MS_SLOT, f'"feature_ms":{feature_ms},', max_replacements=1
    )
    for old, new in _FIXES:
        out = pc.replace_substring(out, old, new, max_replacements=1)
    return out


def feature_payloads(batch: pa.RecordBatch, feature_ms: int) -> Iterator[tuple[str, bytes]]:
    """``(user_id, JSON)`` of each row, in the feature entry format of the BRIEF.

    The reference of the format, in Python (one dict and one orjson call a row): the job builds
    the same entries in the JVM with :func:`feature_entries`, and the tests compare the two.
    """
    names = [n for n in batch.schema.names if n.startswith(FEATURE_PREFIX)]
    at = batch.schema.get_field_index("event_time")
    # datetime objects (microseconds), which orjson writes as ISO 8601 with a Z
    batch = batch.set_column(at, "event_time", batch.column(at).cast(pa.timestamp("us", "UTC")))
    # column lists + zip: ~2x faster than batch.to_pylist()'s dict per row
    head = [batch.column(n).to_pylist() for n in _HEAD]
    labels = [batch.column(n).to_pylist() for n in _LABELS]
    feats = [batch.column(n).to_pylist() for n in names]
    keys = [n[len(FEATURE_PREFIX) :] for n in names]
    head_rows, label_rows = zip(*head, strict=True), zip(*labels, strict=True)
    feat_rows = zip(*feats, strict=True) if feats else [()] * batch.num_rows
    for row, label, values in zip(head_rows, label_rows, feat_rows, strict=True):
        entry = dict(zip(_HEAD, row, strict=True))
        entry["feature_ms"] = feature_ms
        entry["features"] = dict(zip(keys, values, strict=True))
        for name, value in zip(_LABELS, label, strict=True):
            if value is not None:
                entry[name] = value
        yield row[1], orjson.dumps(entry, option=orjson.OPT_UTC_Z)


class FeatureStreamWriter(DataSourceStreamArrowWriter):
    """Writes a task's feature rows, once per (query, batch, partition, shard)."""

    def __init__(self, options: Mapping[str, str]) -> None:
        self.url = options["secret_redis_url"]  # Spark's options are case-insensitive
        self.names = StreamNames(options.get("prefix", "rtad"), int(options.get("shards", "4")))

    def write(self, iterator: Iterator[pa.RecordBatch]) -> SinkCommit:
        context = TaskContext.get()
        assert context is not None
        batch = context.getLocalProperty("streaming.sql.batchId")
        query_id = context.getLocalProperty("sql.streaming.queryId")
        if batch is None or query_id is None:  # without them idempotence would drop rows
            raise RuntimeError("the feature sink runs only inside a streaming query")
        batch_id = int(batch)
        writer_id = f"{query_id}:{context.partitionId()}"
        by_shard = group_by_shard(iterator)
        client = connect(self.url)
        written = skipped = 0
        for shard, payloads in sorted(by_shard.items()):
            if self._write_shard(client, shard, payloads, writer_id, batch_id):
                written += len(payloads)
            else:
                skipped += len(payloads)
        client.close()
        return SinkCommit(written, skipped)

    def _write_shard(
        self, client: redis.Redis, shard: int, payloads: pa.Array, writer: str, batch_id: int
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
        xadds = pack_xadds(key, payloads)
        transaction = [
            pack_command(b"MULTI"),
            xadds,
            pack_command(b"HSET", marker, writer_field, b"%d" % batch_id),
            pack_command(b"HINCRBY", stats, b"rows_out", b"%d" % len(payloads)),
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
                results = exchange(conn, transaction, len(payloads) + 4)
                if results is None:
                    continue
                failed = [r for r in results[: len(payloads)] if isinstance(r, Exception)]
                if failed:
                    undo = [
                        _marker_back(marker, writer_field, done),
                        pack_command(b"HINCRBY", stats, b"rows_out", b"%d" % -len(failed)),
                    ]
                    exchange(conn, undo, 2)
                    raise RtadError(
                        f"{len(failed)} of {len(payloads)} entries not written to {key} "
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


def group_by_shard(batches: Iterator[pa.RecordBatch]) -> dict[int, pa.Array]:
    """Each shard's finished payloads, in arrival order (``feature_ms``: when the batch came)."""
    parts: dict[int, list[pa.Array]] = defaultdict(list)
    for batch in batches:
        if not batch.num_rows:
            continue
        payloads = finish_payloads(batch.column(PAYLOAD_COLUMN), int(time.time() * 1000))
        shards = batch.column(SHARD_COLUMN)
        for shard in pc.unique(shards).to_pylist():
            parts[shard].append(payloads.filter(pc.equal(shards, shard)))
    return {shard: pa.concat_arrays(arrays) for shard, arrays in parts.items()}


def pack_xadds(key: str, payloads: pa.Array) -> memoryview:
    """``XADD key * v 1 d <payload>`` for every payload, in the wire format, as one buffer
    (Arrow kernels: the length of each payload and the join of the parts)."""
    data = payloads.cast(pa.binary())
    lengths = pc.binary_length(data).cast(pa.string()).cast(pa.binary())

    def part(value: bytes) -> pa.Scalar:
        return pa.scalar(value, pa.binary())

    packed = pc.binary_join_element_wise(
        part(xadd_prefix(key) + b"$"), lengths, part(b"\r\n"), data, part(b"\r\n"), part(b"")
    )
    if not len(packed):
        return memoryview(b"")
    _, offsets, values = packed.buffers()
    bounds = np.frombuffer(offsets, np.int32)[[packed.offset, packed.offset + len(packed)]]
    return memoryview(values)[int(bounds[0]) : int(bounds[1])]


class FeatureSink(DataSource):
    """``writeStream.format("rtad_features")``: options ``secret_redis_url``, ``prefix``,
    ``shards``."""

    @classmethod
    def name(cls) -> str:
        return FORMAT

    def streamWriter(self, schema: StructType, overwrite: bool) -> DataSourceStreamWriter:
        return FeatureStreamWriter(self.options)
