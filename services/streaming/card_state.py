"""Per-card feature state as Arrow tables: what the Spark processor stores, a slot at a time.

A state table has one row per card — ``user_id``, its ``slot``, ``seen_ms`` (processing time of
its last transaction, for the TTL), ``n`` (transactions seen), each window column of
:data:`~rtad.features.card_features.WINDOW_KEYS` as a list (oldest first) and each LRU memory as a
flat ``[key, visits, ...]`` list. It crosses to Spark's state store as Arrow IPC bytes, so
reading and writing many cards costs a few memory copies, not a JSON document per card.

:func:`step_table` is the processor's whole step, without Spark: the stored cards and the new
rows in, the rewritten cards and the feature matrix out; :func:`slot_of` says which stored value
a card lives in.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rtad.features.card_features import (
    MEMORIES,
    WINDOW_DTYPES,
    WINDOW_KEYS,
    History,
    step_history,
)
from rtad.features.table import FEATURE_COLUMNS
from rtad.features.window_memory import Memory

#: Bumped when the table's layout changes: a stored table of another version starts afresh.
STATE_VERSION = b"4"  # 4: narrow stored types
_VERSION_KEY = b"rtad_card_state"
#: How each window column is stored: as narrow as its values allow, losslessly (CRC-32 codes
#: fit 32 bits, the flags 8, the hourly counts 16): every stored byte is read and written
#: again each batch (through the state server, RocksDB and its changelog). ``pa.array``
#: refuses a value that does not fit rather than wrapping it.
STORED_TYPES: dict[str, pa.DataType] = {
    "t": pa.int64(),
    "amount": pa.float64(),
    "lat": pa.float64(),
    "lon": pa.float64(),
    "merchant": pa.uint32(),
    "small": pa.int8(),
    "newm": pa.int8(),
    "c1h": pa.int16(),
}
#: A memory's flat ``[key, visits, ...]`` list: CRC-32 keys and visit counts fit 32 bits.
MEMORY_TYPE = pa.uint32()
#: Every stored byte crosses the Python-JVM socket twice a batch and goes through RocksDB and
#: its changelog, so reading and writing a bucket's state can outweigh its feature step. LZ4
#: frames halve the bytes for little CPU.
_IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")
STATE_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("slot", pa.int32()),
        ("seen_ms", pa.int64()),
        ("n", pa.int64()),
        *[(k, pa.list_(STORED_TYPES[k])) for k in WINDOW_KEYS],
        *[(k, pa.list_(MEMORY_TYPE)) for k in MEMORIES],
    ],
    metadata={_VERSION_KEY: STATE_VERSION},
)


def empty_table() -> pa.Table:
    return STATE_SCHEMA.empty_table()


def slot_of(users: Sequence[str] | pa.Array, buckets: int, slots: int) -> np.ndarray:
    """The slot of each card within its bucket (the bucket is ``crc32 % buckets``).

    >>> slot_of(["card-1", "card-2", "card-3"], buckets=4, slots=8).tolist()
    [5, 3, 6]
    """
    if slots == 1:
        return np.zeros(len(users), np.int32)
    if isinstance(users, pa.Array):
        users = users.to_pylist()
    crc = (zlib.crc32(u.encode()) for u in users)
    return np.fromiter(((c // buckets) % slots for c in crc), np.int32, len(users))


def by_slot(table: pa.Table, slots: Sequence[int]) -> dict[int, bytes]:
    """The stored value of each of ``slots``: its cards of ``table`` as IPC bytes."""
    if len(slots) == 1:
        return {slots[0]: to_bytes(table)}
    column = table["slot"]
    return {s: to_bytes(table.filter(pc.equal(column, s))) for s in slots}


def to_bytes(table: pa.Table) -> bytes:
    """A state table as Arrow IPC stream bytes, LZ4-compressed (see ``_IPC_OPTIONS``)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, STATE_SCHEMA, options=_IPC_OPTIONS) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def from_bytes(data: bytes | None) -> pa.Table:
    """Inverse of :func:`to_bytes`; None or another layout version gives an empty table."""
    if not data:
        return empty_table()
    table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    metadata = table.schema.metadata or {}
    if metadata.get(_VERSION_KEY) != STATE_VERSION or table.schema != STATE_SCHEMA:
        return empty_table()
    return table


def step_table(
    stored: pa.Table,
    users: pa.Array,
    inputs: Mapping[str, Any],
    now_ms: int,
    ttl_ms: int,
    buckets: int = 1,
    slots: int = 1,
) -> tuple[pa.Table, np.ndarray]:
    """Stored cards + new rows → (cards to store again, features of the rows).

    Row ``k`` is ``users[k]``'s, with the feature inputs ``inputs[...][k]``
    (:func:`rtad.features.card_features.feature_inputs`). Cards of ``stored`` idle for ``ttl_ms``
    or longer (by ``now_ms``, the batch's processing time) are dropped, and start afresh if
    they come back. The returned table holds every card of ``stored`` that is still alive,
    the ones of ``users`` updated.
    """
    if not len(users):
        return stored, np.empty((0, len(FEATURE_COLUMNS)))
    alive = stored.filter(pc.greater(stored["seen_ms"], now_ms - ttl_ms))
    # first-appearance order, like pandas.factorize(sort=False)
    encoded = pc.dictionary_encode(users)
    card = encoded.indices.to_numpy().astype(np.int64)
    touched = encoded.dictionary
    where = pc.index_in(touched, value_set=alive["user_id"])
    history = _history(alive.take(where))
    updated, matrix = step_history(history, card, inputs)
    fresh = _table(updated, touched, slot_of(touched, buckets, slots), now_ms)
    untouched = alive.filter(pc.invert(pc.is_in(alive["user_id"], value_set=touched)))
    return pa.concat_tables([untouched, fresh]).combine_chunks(), matrix


def _history(known: pa.Table) -> History:
    """The window history of the touched cards (a null row: a card not stored)."""
    window = {}
    for k in WINDOW_KEYS:
        column = known[k].combine_chunks()
        window[k] = column.flatten().to_numpy(zero_copy_only=False).astype(WINDOW_DTYPES[k])
    lengths = pc.list_value_length(known["t"]).fill_null(0).to_numpy().astype(np.int64)
    memories = {}
    for k in MEMORIES:
        column = known[k].combine_chunks()
        flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.int64)
        memories[k] = Memory.of_flat(flat, pc.list_value_length(column).fill_null(0).to_numpy())
    n = known["n"].fill_null(0).to_numpy().astype(np.int64)
    return History(n, lengths, window, memories)


def _table(history: History, users: pa.Array, slot: np.ndarray, now_ms: int) -> pa.Table:
    offsets = pa.array(np.r_[0, np.cumsum(history.lengths)], pa.int32())
    columns = {
        "user_id": users,
        "slot": pa.array(slot, pa.int32()),
        "seen_ms": pa.array(np.full(len(users), now_ms, dtype=np.int64)),
        "n": pa.array(history.n, pa.int64()),
    }
    for k in WINDOW_KEYS:
        columns[k] = pa.ListArray.from_arrays(offsets, pa.array(history.window[k], STORED_TYPES[k]))
    for k in MEMORIES:
        memory = history.memories[k]
        bounds = pa.array(np.r_[0, np.cumsum(2 * memory.lengths)], pa.int32())
        columns[k] = pa.ListArray.from_arrays(bounds, pa.array(memory.flat(), MEMORY_TYPE))
    return pa.Table.from_pydict(columns, schema=STATE_SCHEMA)
