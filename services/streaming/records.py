"""Input entries → Arrow record batches; entries that fail go to the dead-letter list.

Pure and deterministic (no Spark, no Redis): the source reads a range with XRANGE and hands
the entries here, so a replayed range yields the same rows and the same dead letters.

What the source hands Spark is not a row per transaction but a row per *state bucket* of
each chunk it reads (:func:`by_bucket`): the bucket's grouping value, its number of
transactions and its packed records (:mod:`rtad.streaming.packed_records`) as one Arrow IPC
stream. Spark's costs are per row — Arrow to its rows and back, the shuffle, and the pandas
hand-over of ``transformWithStateInPandas``, which walks its input with ``itertuples`` and
rebuilds a DataFrame of the tuples — and the processor works a bucket at a time anyway, so
the job moves a few dozen rows a batch instead of 100k, and the stateful stage gets each
bucket's records as they were packed. Spark then counts buckets, not transactions: the job
reports the transactions with an observed metric (``rtad.streaming.job.input_rows``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rtad.common.encoding import (
    UndecodableEntry,
    one_object_per_payload,
    original_payload,
    payload_of,
    v1_payloads,
)
from rtad.common.redis_streams import parse_id
from rtad.common.schema import InvalidRecord, Transaction, decode_json
from rtad.streaming.packed_records import card_codes, pack

#: A chunk's valid entries: each one's card and its packed transaction
#: (:mod:`rtad.streaming.packed_records`: its numbers, card and entry head, ingest time included).
ARROW_SCHEMA = pa.schema([("user_id", pa.string()), ("record", pa.binary())])
#: The source's rows (:func:`by_bucket`): a state bucket's grouping value, how many
#: transactions it holds, and their packed records as an Arrow IPC stream.
BUCKET_COLUMN, COUNT_COLUMN, RECORDS_COLUMN = "state_bucket", "transactions", "records"
SOURCE_SCHEMA = pa.schema(
    [(BUCKET_COLUMN, pa.int64()), (COUNT_COLUMN, pa.int32()), (RECORDS_COLUMN, pa.binary())]
)
SOURCE_DDL = f"{BUCKET_COLUMN} bigint, {COUNT_COLUMN} int, {RECORDS_COLUMN} binary"
_PACKED = pa.schema([ARROW_SCHEMA.field("record")])
_LINES = msgspec.json.Decoder(Transaction)

#: An XRANGE entry: its ID and its fields, flat as Redis sends them (``[b"v", b"1", b"d",
#: payload]`` in encoding v1) or as a mapping (redis-py's parsed form).
Fields = Sequence[bytes] | Mapping[bytes, bytes]
Entry = tuple[bytes, Fields]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One input entry that cannot enter the pipeline: why, what, and where it came from."""

    entry_id: bytes
    reason: str
    payload: bytes
    source: str


def to_record_batch(
    entries: Sequence[Entry], source_key: str, shard: int
) -> tuple[pa.RecordBatch, list[DeadLetter]]:
    """Decode and validate ``entries`` of ``shard``: valid ones as one Arrow batch of packed
    records (:data:`ARROW_SCHEMA`), the rest as dead letters.

    The common case — every entry a v1 entry holding a valid record — is decoded in one msgspec
    call over the payloads as JSON lines and packed by whole-list operations; any failure (or
    a payload that is not exactly one line) takes the careful path, entry by entry, which
    finds the bad ones and their reasons.
    """
    if not entries:
        return _entry_by_entry(entries, source_key, shard)
    ids, fields = zip(*entries, strict=True)
    fast = _all_valid(fields)
    if fast is None:
        return _entry_by_entry(entries, source_key, shard)
    return _batch(fast, _ingest_ms(ids), shard), []


def by_bucket(batch: pa.RecordBatch, keys: Sequence[int]) -> pa.RecordBatch:
    """One row per state bucket that ``batch`` (:data:`ARROW_SCHEMA`) has cards of, in
    bucket order: ``keys[b]`` (the grouping value of bucket ``b``, see
    :func:`rtad.streaming.spark_hash.bucket_keys`), the count and the bucket's packed records
    in the order they came, as one Arrow IPC stream (:data:`SOURCE_SCHEMA`).

    A card's bucket is ``crc32(user_id) % len(keys)``, as :func:`rtad.streaming.card_state.slot_of`
    assumes.
    """
    buckets = len(keys)
    bucket = card_codes(batch.column("user_id")) % buckets
    order = np.argsort(bucket, kind="stable")
    counts = np.bincount(bucket, minlength=buckets)
    records = batch.column("record").take(pa.array(order))
    starts = np.r_[0, np.cumsum(counts)]
    present = np.flatnonzero(counts)
    blobs = [_ipc(records.slice(int(starts[b]), int(counts[b]))) for b in present.tolist()]
    return pa.RecordBatch.from_arrays(
        [
            pa.array(np.asarray(keys, np.int64)[present]),
            pa.array(counts[present], pa.int32()),
            pa.array(blobs, pa.binary()),
        ],
        schema=SOURCE_SCHEMA,
    )


def packed_of(blobs: Sequence[bytes]) -> pa.ChunkedArray:
    """The packed records of source rows' ``records`` values, in their order (the inverse of
    :func:`by_bucket` for one bucket's rows): Arrow views of the bytes, no copy."""
    chunks = [pa.ipc.open_stream(pa.py_buffer(b)).read_all().column(0) for b in blobs]
    return pa.chunked_array([c for chunk in chunks for c in chunk.chunks], pa.binary())


def _ipc(records: pa.Array) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, _PACKED) as writer:
        writer.write_batch(pa.RecordBatch.from_arrays([records], schema=_PACKED))
    return sink.getvalue().to_pybytes()


def _batch(records: Sequence[Transaction], ingest_ms: np.ndarray, shard: int) -> pa.RecordBatch:
    users, packed = pack(records, ingest_ms, shard)
    return pa.RecordBatch.from_arrays([users, packed], schema=ARROW_SCHEMA)


def _ingest_ms(ids: Sequence[bytes]) -> np.ndarray:
    """The milliseconds part of each stream ID (``b"1700000000123-4"`` → 1700000000123)."""
    parts = pc.split_pattern(pa.array(ids, pa.binary()), b"-", max_splits=1)
    return pc.list_element(parts, 0).cast(pa.string()).cast(pa.int64()).to_numpy()


def _payloads(fields: Sequence[Fields]) -> list[bytes] | None:
    """Every entry's payload, or None when an entry is not a version-1 entry.

    Flat ``v 1 d <payload>`` entries (what producers write) in one whole-list check
    (:func:`~rtad.common.encoding.v1_payloads`); any other shape goes through
    :func:`payload_of` entry by entry.
    """
    payloads = v1_payloads(fields)
    return payloads if payloads is not None else _mapped_payloads(fields)


def _mapped_payloads(fields: Sequence[Fields]) -> list[bytes] | None:
    try:
        return [payload_of(_as_mapping(f)) for f in fields]
    except UndecodableEntry:
        return None


def _all_valid(fields: Sequence[Fields]) -> list[Transaction] | None:
    """Every entry's transaction in one decode, or None when any entry needs a closer look."""
    payloads = _payloads(fields)
    if payloads is None:
        return None
    joined = b"\n".join(payloads)
    if not one_object_per_payload(joined, payloads):
        return None
    try:
        decoded = _LINES.decode_lines(joined)
    except (msgspec.ValidationError, msgspec.DecodeError, ValueError):
        return None
    return decoded if len(decoded) == len(payloads) else None


def _as_mapping(fields: Fields) -> Mapping[bytes, bytes]:
    """A flat field list as a mapping (a repeated field keeps its last value, like redis-py)."""
    if isinstance(fields, Mapping):
        return fields
    return dict(zip(fields[0::2], fields[1::2], strict=False))


def _entry_by_entry(
    entries: Sequence[Entry], source_key: str, shard: int
) -> tuple[pa.RecordBatch, list[DeadLetter]]:
    valid: list[Transaction] = []
    ingest: list[int] = []
    dead: list[DeadLetter] = []
    for entry_id, raw in entries:
        fields = _as_mapping(raw)
        try:
            tx = decode_json(payload_of(fields))
        except (UndecodableEntry, InvalidRecord) as exc:
            source = f"{source_key}/{entry_id.decode()}"
            dead.append(DeadLetter(entry_id, str(exc), original_payload(fields), source))
            continue
        valid.append(tx)
        ingest.append(parse_id(entry_id)[0])
    return _batch(valid, np.array(ingest, np.int64), shard), dead
