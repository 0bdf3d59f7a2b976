"""Raw feature entries of a batch → decoded rows; the ones that cannot be decoded → dead letters.

The usual batch — every entry exactly ``[v, 1, d, <one line of JSON>]`` — is decoded in ONE
msgspec ``decode_lines`` call over the payloads of every shard, with C-level ``map`` calls to
pull IDs and payloads out of the raw replies. Anything else (an entry of another encoding, a
payload that is not JSON, a row that fails validation, an entry delivered too often) sends the
batch through the careful path: shard by shard, entry by entry, which dead-letters the bad
entries with their reason and decodes the others exactly as the fast path would.

>>> from rtad.scorer.scoring import row_decoder
>>> entry = (b"1-0", [b"v", b"1", b"d", b'{"oops'])
>>> decoded = decode_entries([(2, [entry])], row_decoder(("a",)))
>>> decoded.rows, decoded.dead[2][0][:2]
([], (b'1-0', 'invalid_row'))
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import msgspec

from rtad.common.encoding import (
    DATA_FIELD,
    ENCODING_VERSION,
    VERSION_FIELD,
    UndecodableEntry,
    one_object_per_payload,
    original_payload,
    payload_of,
    v1_payloads,
)
from rtad.scorer.scoring import FeatureRow, decode_row

#: ``(entry id, fields)``; fields as XREADGROUP returns them raw (a flat list) or as a dict.
RawEntry = tuple[bytes, Any]
ShardEntries = tuple[int, Sequence[RawEntry]]
#: ``(entry id, short code for the metric, one-line reason, original payload)``
DeadLetter = tuple[bytes, str, str, bytes]
# Dead-letter reason codes (the label of rtad_scorer_deadletter_total).
UNDECODABLE = "undecodable"
INVALID_ROW = "invalid_row"
INVALID_FEATURES = "invalid_features"
MAX_DELIVERIES = "max_deliveries"

_entry_id = itemgetter(0)
_fields = itemgetter(1)


@dataclass
class DecodedEntries:
    """The decoded rows of a batch, in group order, and what goes to the dead-letter stream."""

    rows: list[FeatureRow] = field(default_factory=list)
    ids: list[bytes] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    #: rows of each group of the batch (same order as the groups)
    counts: list[int] = field(default_factory=list)
    #: shard → its entries that cannot be scored
    dead: dict[int, list[DeadLetter]] = field(default_factory=dict)


def decode_entries(
    groups: Sequence[ShardEntries],
    decoder: msgspec.json.Decoder[FeatureRow],
    exhausted: Collection[tuple[int, bytes]] = (),
    exhausted_reason: str = "too many deliveries",
) -> DecodedEntries:
    """Decode every group's entries; the bad ones end up in ``dead[shard]`` with a reason."""
    if not exhausted:
        decoded = _decode_all_at_once(groups, decoder)
        if decoded is not None:
            return decoded
    out = DecodedEntries()
    for shard, entries in groups:
        rows, ids, payloads = _decode_carefully(
            shard, entries, decoder, out.dead.setdefault(shard, []), exhausted, exhausted_reason
        )
        out.rows += rows
        out.ids += ids
        out.payloads += payloads
        out.counts.append(len(rows))
    return out


def canonical_payloads(entries: Sequence[RawEntry]) -> list[bytes] | None:
    """The ``d`` payloads when every entry is exactly ``[b"v", b"1", b"d", payload]``, else None.

    >>> canonical_payloads([(b"1-0", [b"v", b"1", b"d", b"{}"])])
    [b'{}']
    >>> canonical_payloads([(b"1-0", [b"v", b"2", b"d", b"{}"])]) is None
    True
    """
    return v1_payloads(list(map(_fields, entries)))


def _decode_all_at_once(
    groups: Sequence[ShardEntries], decoder: msgspec.json.Decoder[FeatureRow]
) -> DecodedEntries | None:
    """Every group in one ``decode_lines`` call; None if anything at all is unusual."""
    out = DecodedEntries()
    for _shard, entries in groups:
        payloads = canonical_payloads(entries) if entries else []
        if payloads is None:
            return None
        out.payloads += payloads
        out.ids += map(_entry_id, entries)
        out.counts.append(len(payloads))
    n = len(out.payloads)
    if n == 0:
        return out
    try:
        joined = b"\n".join(out.payloads)
    except TypeError:  # a payload that is not bytes
        return None
    if not one_object_per_payload(joined, out.payloads):
        return None
    try:
        out.rows = decoder.decode_lines(joined)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return out if len(out.rows) == n else None


def _decode_carefully(
    shard: int,
    entries: Sequence[RawEntry],
    decoder: msgspec.json.Decoder[FeatureRow],
    dead: list[DeadLetter],
    exhausted: Collection[tuple[int, bytes]],
    exhausted_reason: str,
) -> tuple[list[FeatureRow], list[bytes], list[bytes]]:
    """Rows, entry IDs and payloads of one shard's entries, one by one; the bad ones to ``dead``."""
    rows, ids, payloads = [], [], []
    for entry_id, fields in entries:
        if (shard, entry_id) in exhausted:
            dead.append((entry_id, MAX_DELIVERIES, exhausted_reason, original_bytes(fields)))
            continue
        try:
            payload = payload_from_fields(fields)
        except UndecodableEntry as exc:
            dead.append((entry_id, UNDECODABLE, str(exc), original_bytes(fields)))
            continue
        try:
            rows.append(decode_row(payload, decoder))
        except ValueError as exc:
            dead.append((entry_id, INVALID_ROW, str(exc), payload))
            continue
        ids.append(entry_id)
        payloads.append(payload)
    return rows, ids, payloads


def payload_from_fields(fields: Any) -> bytes:
    """The JSON payload of a raw entry (fast path for the usual ``[v, 1, d, json]``)."""
    if (
        isinstance(fields, list)
        and len(fields) == 4
        and fields[0] == VERSION_FIELD
        and fields[1] == ENCODING_VERSION
        and fields[2] == DATA_FIELD
    ):
        return fields[3]  # type: ignore[no-any-return]
    return payload_of(_as_mapping(fields))


def original_bytes(fields: Any) -> bytes:
    """The entry as it was, for the dead-letter stream (raw replies are flat field lists)."""
    return original_payload(_as_mapping(fields))


def _as_mapping(fields: Any) -> dict[Any, Any]:
    if isinstance(fields, dict):
        return fields
    if isinstance(fields, list | tuple):
        return dict(zip(fields[::2], fields[1::2], strict=False))
    return {}
