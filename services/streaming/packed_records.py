"""The feature job's row: a validated transaction packed into ONE binary value.

Why one value: ``transformWithStateInPandas`` hands its input to Python row by row (pandas
``itertuples``, then a DataFrame of the tuples), which costs far more for the record's 14
columns than for one binary column, and the JVM's ``to_json`` of the entry head costs more
again. So the source packs each transaction once, in Python, and Spark moves opaque bytes: its
shuffle and the processor's input.

A packed record is::

    fixed block (RECORD_DTYPE, 80 bytes) | user_id (UTF-8) | head (compact JSON)

- the fixed block holds what the features read as numbers: event time (ms since the epoch),
  amount, latitude, longitude, the CRC-32 of merchant_id and of the categories the features
  remember (:func:`rtad.features.card_features.text_code`, 0: absent), then the record's shard
  and the byte length of ``user_id``;
- ``user_id``, the key of the card's state;
- the feature entry's head (:mod:`rtad.common.feature_entry`) but for ``feature_ms`` and
  ``feature_set``, which the feature writer appends: the record as validated, ``timestamp``
  under the name ``event_time`` (as the producer wrote it, zone included), then
  ``ingest_ms``.

>>> from datetime import UTC, datetime
>>> from rtad.common.schema import Transaction
>>> tx = Transaction(transaction_id="t1", timestamp=datetime(2026, 1, 5, tzinfo=UTC),
...     user_id="u1", merchant_id="m1", amount=2.5, currency="EUR", latitude=1.0, longitude=2.0)
>>> users, records = pack([tx], np.array([1700000000000]), shard=3)
>>> rows = unpack(records.to_pylist())
>>> rows.users.to_pylist(), int(rows.fixed["shard"][0]), float(rows.fixed["amount"][0])
(['u1'], 3, 2.5)
>>> rows.heads[0].as_py()
b'{"transaction_id":"t1","event_time":"2026-01-05T00:00:00Z","user_id":"u1","merchant_id":"m1","amount":2.5,"currency":"EUR","latitude":1.0,"longitude":2.0,"ingest_ms":1700000000000}'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rtad.common.feature_entry import record_heads
from rtad.common.schema import Transaction
from rtad.features.card_features import text_code
from rtad.features.window_kernel import CATEGORIES

#: The numbers of a record, little-endian, in this order (80 bytes).
RECORD_DTYPE = np.dtype(
    [
        ("t", "<i8"),
        ("amount", "<f8"),
        ("lat", "<f8"),
        ("lon", "<f8"),
        ("merchant", "<i8"),
        *[(name, "<i8") for name in CATEGORIES],
        ("shard", "<i4"),
        ("user_len", "<i4"),
    ]
)
FIXED = RECORD_DTYPE.itemsize
_NUMBERS = (("amount", "amount"), ("lat", "latitude"), ("lon", "longitude"))
_HASHED = (("merchant", "merchant_id"), *[(name, name) for name in CATEGORIES])


class _Crc32Memo(dict[str | None, int]):
    """:func:`rtad.features.card_features.text_code` of each text seen: merchants and categories
    repeat, so a lookup replaces a factorize of every column of every batch."""

    LIMIT = 1_000_000

    def __missing__(self, key: str | None) -> int:
        if len(self) >= self.LIMIT:
            self.clear()
        value = self[key] = text_code(key)
        return value


_CRC32 = _Crc32Memo()


@dataclass(frozen=True)
class Unpacked:
    """Packed records taken apart: row ``k`` of each belongs to record ``k``."""

    fixed: np.ndarray  # RECORD_DTYPE
    users: pa.Array  # string
    heads: pa.Array  # binary: the entry heads without feature_ms / feature_set


def pack(
    records: Sequence[Transaction], ingest_ms: np.ndarray, shard: int
) -> tuple[pa.Array, pa.Array]:
    """``(user_id, packed record)`` arrays of validated ``records`` read from ``shard``.

    Whole-list operations only: one attribute list per field, one msgspec call for the heads,
    Arrow kernels to finish and join the parts.
    """
    n = len(records)
    fixed = np.zeros(n, RECORD_DTYPE)
    stamps = pa.array(list(map(attrgetter("timestamp"), records)), pa.timestamp("us", "UTC"))
    fixed["t"] = stamps.cast(pa.int64()).to_numpy() // 1000
    for column, field in _NUMBERS:
        fixed[column] = np.fromiter(map(attrgetter(field), records), np.float64, n)
    for column, field in _HASHED:
        fixed[column] = np.fromiter(
            map(_CRC32.__getitem__, map(attrgetter(field), records)), np.int64, n
        )
    users = pa.array(list(map(attrgetter("user_id"), records)), pa.string())
    raw_users = users.cast(pa.binary())
    fixed["shard"] = shard
    fixed["user_len"] = pc.binary_length(raw_users).to_numpy()
    return users, pc.binary_join_element_wise(
        _binary_rows(fixed.tobytes(), FIXED, n), raw_users, record_heads(records, ingest_ms), b""
    )


def card_codes(users: pa.Array) -> np.ndarray:
    """The CRC-32 of each card's id (:func:`rtad.features.card_features.text_code`), for its state
    bucket: a memo lookup a row, cards come back.

    >>> card_codes(pa.array(["card-1"])).tolist() == [text_code("card-1")]
    True
    """
    return np.fromiter(map(_CRC32.__getitem__, users.to_pylist()), np.int64, len(users))


def _binary_rows(data: bytes, width: int, n: int) -> pa.Array:
    """``n`` binary values of ``width`` bytes each over ``data`` (no copy)."""
    offsets = np.arange(n + 1, dtype=np.int32) * width
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def unpack(values: Sequence[bytes] | pa.Array | pa.ChunkedArray) -> Unpacked:
    """Fixed blocks, user ids and heads of packed records: Arrow views into the records'
    bytes and numpy gathers of a few bytes a row, no Python object a row."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    column = values if isinstance(values, pa.Array) else pa.array(values, pa.binary())
    column = column.cast(pa.binary())
    n = len(column)
    if n == 0:
        return Unpacked(np.zeros(0, RECORD_DTYPE), pa.array([], pa.string()), column)
    fixed = np.frombuffer(pc.binary_slice(column, 0, FIXED).buffers()[2], RECORD_DTYPE, n)
    _, offset_buffer, data_buffer = column.buffers()
    offsets = np.frombuffer(offset_buffer, np.int32)[column.offset : column.offset + n + 1]
    data = np.frombuffer(data_buffer, np.uint8)
    user_at = offsets[:-1].astype(np.int64) + FIXED
    user_len = fixed["user_len"].astype(np.int64)
    users = _slices(data_buffer, data, user_at, user_len).cast(pa.string())
    head_at = user_at + user_len
    heads = _slices(data_buffer, data, head_at, offsets[1:] - head_at).cast(pa.binary())
    return Unpacked(fixed, users, heads)


def _slices(
    buffer: pa.Buffer, data: np.ndarray, starts: np.ndarray, lengths: np.ndarray
) -> pa.Array:
    """The byte ranges ``[starts[k], starts[k] + lengths[k])`` of ``buffer`` (``data`` is its
    numpy view) as a binary *view* array: 16 bytes a value — its length, then up to 12 bytes
    inline, or a 4-byte prefix, the buffer's index (0) and the offset (Arrow's layout)."""
    n = len(starts)
    views = np.zeros((n, 4), "<i4")
    views[:, 0] = lengths
    as_bytes = views.view(np.uint8)
    short = np.flatnonzero(lengths <= _INLINE)
    if len(short):
        width = np.arange(_INLINE)
        inside = width < lengths[short, None]
        at = np.where(inside, starts[short, None] + width, 0)
        as_bytes[short, 4:16] = np.where(inside, data[at], 0)
    long = np.flatnonzero(lengths > _INLINE)
    if len(long):
        as_bytes[long, 4:8] = data[starts[long, None] + np.arange(4)]
        views[long, 3] = starts[long]
    return pa.Array.from_buffers(pa.binary_view(), n, [None, pa.py_buffer(views), buffer])


_INLINE = 12  # bytes of a value kept inside its view


def feature_inputs(fixed: np.ndarray) -> dict[str, Any]:
    """The columns :func:`rtad.features.card_features.step_history` reads, from fixed blocks:
    the same arrays :func:`rtad.features.card_features.feature_inputs` makes of a DataFrame."""
    columns: dict[str, Any] = {k: np.ascontiguousarray(fixed[k]) for k in _FEATURE_NUMBERS}
    for name in CATEGORIES:
        codes = np.ascontiguousarray(fixed[name])
        columns[name] = codes if codes.any() else None
    return columns


_FEATURE_NUMBERS = ("t", "amount", "lat", "lon", "merchant")
