"""Input entries → Arrow record batches; entries that fail go to the dead-letter list.

Pure and deterministic (no Spark, no Redis): the source reads a range with XRANGE and hands
the entries here, so a replayed range yields the same rows and the same dead letters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import msgspec
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

#: Spark DDL of the source's rows: the record contract plus the tx entry's ingest time.
SOURCE_DDL = (
    "transaction_id string, timestamp timestamp, user_id string, merchant_id string, "
    "amount double, currency string, latitude double, longitude double, "
    "merchant_category string, channel string, country string, is_fraud int, "
    "fraud_scenario string, ingest_ms long"
)

ARROW_SCHEMA = pa.schema(
    [
        ("transaction_id", pa.string()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("user_id", pa.string()),
        ("merchant_id", pa.string()),
        ("amount", pa.float64()),
        ("currency", pa.string()),
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
        ("merchant_category", pa.string()),
        ("channel", pa.string()),
        ("country", pa.string()),
        ("is_fraud", pa.int32()),
        ("fraud_scenario", pa.string()),
        ("ingest_ms", pa.int64()),
    ]
)
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
    entries: Sequence[Entry], source_key: str
) -> tuple[pa.RecordBatch, list[DeadLetter]]:
    """Decode and validate ``entries``: valid ones as one Arrow batch, the rest as dead letters.

    The common case — every entry a v1 entry holding a valid record — is decoded in one msgspec
    call over the payloads as JSON lines and turned into columns by whole-list operations; any
    failure (or a payload that is not exactly one line) takes the careful path, entry by
    entry, which finds the bad ones and their reasons.
    """
    if not entries:
        return _entry_by_entry(entries, source_key)
    ids, fields = zip(*entries, strict=True)
    fast = _all_valid(fields)
    if fast is None:
        return _entry_by_entry(entries, source_key)
    # a record's fields are the schema's first columns, in order (a unit test checks it)
    columns = list(zip(*map(msgspec.structs.astuple, fast), strict=True))
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, ARROW_SCHEMA, strict=False)]
    arrays.append(_ingest_ms(ids))
    return pa.RecordBatch.from_arrays(arrays, schema=ARROW_SCHEMA), []


def _ingest_ms(ids: Sequence[bytes]) -> pa.Array:
    """The milliseconds part of each stream ID (``b"1700000000123-4"`` → 1700000000123)."""
    parts = pc.split_pattern(pa.array(ids, pa.binary()), b"-", max_splits=1)
    return pc.list_element(parts, 0).cast(pa.string()).cast(pa.int64())


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
    entries: Sequence[Entry], source_key: str
) -> tuple[pa.RecordBatch, list[DeadLetter]]:
    columns: dict[str, list[object]] = {name: [] for name in ARROW_SCHEMA.names}
    dead: list[DeadLetter] = []
    for entry_id, raw in entries:
        fields = _as_mapping(raw)
        try:
            tx = decode_json(payload_of(fields))
        except (UndecodableEntry, InvalidRecord) as exc:
            source = f"{source_key}/{entry_id.decode()}"
            dead.append(DeadLetter(entry_id, str(exc), original_payload(fields), source))
            continue
        for name in Transaction.__struct_fields__:
            columns[name].append(getattr(tx, name))
        columns["ingest_ms"].append(parse_id(entry_id)[0])
    arrays = [pa.array(columns[f.name], type=f.type) for f in ARROW_SCHEMA]
    return pa.RecordBatch.from_arrays(arrays, schema=ARROW_SCHEMA), dead
