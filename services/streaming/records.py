"""Input entries → Arrow record batches; entries that fail go to the dead-letter list.

Pure and deterministic (no Spark, no Redis): the source reads a range with XRANGE and hands
the entries here, so a replayed range yields the same rows and the same dead letters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter

import msgspec
import pyarrow as pa

from rtad.common.encoding import UndecodableEntry, original_payload, payload_of
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
_RECORD_FIELDS = tuple(
    name for name in ARROW_SCHEMA.names if name not in {"timestamp", "ingest_ms"}
)
_LINES = msgspec.json.Decoder(Transaction)

Entry = tuple[bytes, dict[bytes, bytes]]


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

    The common case — every entry valid — is decoded in one msgspec call over the payloads as
    JSON lines; any failure (or a payload that is not exactly one line) takes the careful path,
    entry by entry, which finds the bad ones and their reasons.
    """
    fast = _all_valid(entries)
    if fast is None:
        return _entry_by_entry(entries, source_key)
    getter = attrgetter(*_RECORD_FIELDS)
    columns = dict(zip(_RECORD_FIELDS, zip(*map(getter, fast), strict=True), strict=True))
    columns["timestamp"] = tuple(tx.timestamp for tx in fast)
    columns["ingest_ms"] = tuple(int(entry_id.partition(b"-")[0]) for entry_id, _ in entries)
    arrays = [pa.array(columns[f.name], type=f.type) for f in ARROW_SCHEMA]
    return pa.RecordBatch.from_arrays(arrays, schema=ARROW_SCHEMA), []


def _all_valid(entries: Sequence[Entry]) -> list[Transaction] | None:
    """Every entry's transaction in one decode, or None when any entry needs a closer look."""
    if not entries:
        return None
    try:
        payloads = [payload_of(fields) for _, fields in entries]
    except UndecodableEntry:
        return None
    joined = b"\n".join(payloads)
    # one line per entry: a payload holding a newline could shift records between entries
    if joined.count(b"\n") != len(payloads) - 1:
        return None
    try:
        decoded = _LINES.decode_lines(joined)
    except (msgspec.ValidationError, msgspec.DecodeError, ValueError):
        return None
    return decoded if len(decoded) == len(entries) else None


def _entry_by_entry(
    entries: Sequence[Entry], source_key: str
) -> tuple[pa.RecordBatch, list[DeadLetter]]:
    columns: dict[str, list[object]] = {name: [] for name in ARROW_SCHEMA.names}
    dead: list[DeadLetter] = []
    for entry_id, fields in entries:
        try:
            tx = decode_json(payload_of(fields))
        except (UndecodableEntry, InvalidRecord) as exc:
            source = f"{source_key}/{entry_id.decode()}"
            dead.append(DeadLetter(entry_id, str(exc), original_payload(fields), source))
            continue
        for name in _RECORD_FIELDS:
            columns[name].append(getattr(tx, name))
        columns["timestamp"].append(tx.timestamp)
        columns["ingest_ms"].append(parse_id(entry_id)[0])
    arrays = [pa.array(columns[f.name], type=f.type) for f in ARROW_SCHEMA]
    return pa.RecordBatch.from_arrays(arrays, schema=ARROW_SCHEMA), dead
