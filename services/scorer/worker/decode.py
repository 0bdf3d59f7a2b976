"""Raw feature entries of a batch → heads and X; the ones that cannot be scored → dead letters.

Feature entries are of encoding 2 (:mod:`rtad.common.feature_entry`, what the Spark job
writes). A clean batch — every entry exactly ``[v, 2, d, <JSON head>, x, <packed doubles>]``,
all of one known feature set — takes the fast path (:func:`decode_at_once`): ONE msgspec
``decode_lines`` call over the heads of every shard, one join of the ``x`` fields read as one
array, and one fancy index for the model's columns in the model's order. IDs, heads and ``x``
come out of the raw replies by C-level ``map`` calls and slices. Anything else (another
encoding, an unknown feature set, an ``x`` of the wrong size, a head that is not JSON, a row
that fails validation, an entry delivered too often) sends the batch through the careful path:
shard by shard, entry by entry, which dead-letters the bad entries with their reason and
decodes the others exactly as the fast path would. Rows with a non-finite feature are
dead-lettered whichever path they took.

>>> from rtad.common.feature_entry import FeatureSets, encode_feature_entry, feature_set_id
>>> head = {"transaction_id": "t1", "user_id": "u1", "merchant_id": "m1", "amount": 2.5,
...         "event_time": "2026-01-01T00:00:00Z", "ingest_ms": 1}
>>> fields = encode_feature_entry(head, [0.5, 7.0], ("a", "b"))
>>> sets = FeatureSets(known={feature_set_id(("a", "b")): ("a", "b")})
>>> good = (b"1-0", [b"v", b"2", b"d", fields[b"d"], b"x", fields[b"x"]])
>>> bad = (b"1-1", [b"v", b"2", b"d", b'{"oops'])
>>> decoded = decode_entries([(2, [good, bad])], ("b", "a"), sets)
>>> decoded.X.tolist(), decoded.rows[0].transaction_id, decoded.dead[2][0][:2]
([[7.0, 0.5]], 't1', (b'1-1', 'invalid_row'))
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np

from rtad.common.encoding import UndecodableEntry, original_payload
from rtad.common.feature_entry import FeatureSets, entry_parts
from rtad.scorer.scoring import FeatureHead, drop_non_finite
from rtad.scorer.worker.decode_packed import SetLookup, decode_packed, decode_packed_entry

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
DEADLETTER_CODES = (UNDECODABLE, INVALID_ROW, INVALID_FEATURES, MAX_DELIVERIES)

_entry_id = itemgetter(0)
_fields = itemgetter(1)


@dataclass
class DecodedEntries:
    """The decoded rows of a batch, in group order, and what goes to the dead-letter stream."""

    #: the head of every row
    rows: list[FeatureHead] = field(default_factory=list)
    ids: list[bytes] = field(default_factory=list)
    #: the model's features of every row, in the model's order (finite numbers only)
    X: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    #: rows of each group of the batch (same order as the groups)
    counts: list[int] = field(default_factory=list)
    #: shard → its entries that cannot be scored
    dead: dict[int, list[DeadLetter]] = field(default_factory=dict)
    #: the raw fields of every row (what a dead letter keeps of it)
    fields: list[Any] = field(default_factory=list)


class DeadEntry(Exception):
    """An entry that cannot be scored: ``(code, one-line reason, original payload)``."""


def decode_entries(
    groups: Sequence[ShardEntries],
    names: tuple[str, ...],
    sets: FeatureSets,
    exhausted: Collection[tuple[int, bytes]] = (),
    exhausted_reason: str = "too many deliveries",
) -> DecodedEntries:
    """Decode every group's entries for a model of features ``names``.

    The bad ones end up in ``dead[shard]`` with a reason, and so do rows with a non-finite
    feature: what comes back is ready to score.
    """
    lookup = _once_a_batch(sets)
    decoded = None if exhausted else decode_at_once(groups, names, lookup)
    if decoded is None:
        decoded = _decode_carefully(groups, names, lookup, exhausted, exhausted_reason)
    decoded.X, bad = drop_non_finite(decoded.X, names, {})
    if bad:
        _dead_letter_rows(decoded, groups, bad)
    return decoded


def decode_at_once(
    groups: Sequence[ShardEntries], names: tuple[str, ...], sets: SetLookup
) -> DecodedEntries | None:
    """Every group in one ``decode_lines`` call; None if anything is unusual.

    X may still hold non-finite values.
    """
    out = DecodedEntries(X=np.empty((0, len(names))))
    for _shard, entries in groups:
        out.fields += map(_fields, entries)
        out.ids += map(_entry_id, entries)
        out.counts.append(len(entries))
    if not out.fields:
        return out
    parts = entry_parts(out.fields)
    decoded = None if parts is None else decode_packed(*parts, names, sets)
    if decoded is None:
        return None
    out.rows, out.X = decoded
    return out


def _decode_carefully(
    groups: Sequence[ShardEntries],
    names: tuple[str, ...],
    sets: SetLookup,
    exhausted: Collection[tuple[int, bytes]],
    exhausted_reason: str,
) -> DecodedEntries:
    """Shard by shard, entry by entry: the good entries decoded, the bad ones to ``dead``."""
    out = DecodedEntries()
    features: list[Any] = []
    for shard, entries in groups:
        dead = out.dead.setdefault(shard, [])
        before = len(out.rows)
        for entry_id, fields in entries:
            if (shard, entry_id) in exhausted:
                dead.append((entry_id, MAX_DELIVERIES, exhausted_reason, original_bytes(fields)))
                continue
            try:
                row, x = decode_entry(fields, names, sets)
            except DeadEntry as exc:
                dead.append((entry_id, *exc.args))
                continue
            out.rows.append(row)
            out.ids.append(entry_id)
            out.fields.append(fields)
            features.append(x)
        out.counts.append(len(out.rows) - before)
    out.X = np.array(features, dtype=np.float64).reshape(len(features), len(names))
    return out


def decode_entry(fields: Any, names: tuple[str, ...], sets: SetLookup) -> tuple[FeatureHead, Any]:
    """The head and the model's features of one entry; raises DeadEntry."""
    mapping = _as_mapping(fields)
    try:
        return decode_packed_entry(mapping, names, sets)
    except UndecodableEntry as exc:
        raise DeadEntry(UNDECODABLE, str(exc), original_payload(mapping)) from None
    except ValueError as exc:  # a head that is not JSON or not valid, a feature missing
        raise DeadEntry(INVALID_ROW, str(exc), original_payload(mapping)) from None


def _dead_letter_rows(
    decoded: DecodedEntries, groups: Sequence[ShardEntries], bad: dict[int, str]
) -> None:
    """Move the ``bad`` rows (index → reason; X is already without them) to the dead letters."""
    group = np.repeat(np.arange(len(groups)), decoded.counts)
    for i, reason in bad.items():
        g = int(group[i])
        dead_row = (decoded.ids[i], INVALID_FEATURES, reason, original_bytes(decoded.fields[i]))
        decoded.dead.setdefault(groups[g][0], []).append(dead_row)
        decoded.counts[g] -= 1
    keep = [i not in bad for i in range(len(decoded.rows))]
    decoded.rows = [r for r, k in zip(decoded.rows, keep, strict=True) if k]
    decoded.ids = [e for e, k in zip(decoded.ids, keep, strict=True) if k]
    decoded.fields = [f for f, k in zip(decoded.fields, keep, strict=True) if k]


def _once_a_batch(sets: FeatureSets) -> SetLookup:
    """``sets.get``, asked at most once a batch per id (an unknown id is a Redis round trip)."""
    seen: dict[str, tuple[str, ...] | None] = {}

    def get(set_id: str) -> tuple[str, ...] | None:
        if set_id not in seen:
            seen[set_id] = sets.get(set_id)
        return seen[set_id]

    return get


def original_bytes(fields: Any) -> bytes:
    """The entry as it was, for the dead-letter stream (raw replies are flat field lists)."""
    return original_payload(_as_mapping(fields))


def _as_mapping(fields: Any) -> dict[Any, Any]:
    if isinstance(fields, dict):
        return fields
    if isinstance(fields, list | tuple):
        return dict(zip(fields[::2], fields[1::2], strict=False))
    return {}
