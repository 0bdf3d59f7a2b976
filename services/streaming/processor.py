"""Per-card feature state in Spark: ``transformWithStateInPandas`` around ``step_table``.

Spark's per-key cost (the pandas hand-over of each key) dominates when a card has only a row or
two per micro-batch, so the grouping key is a *bucket* of cards (``crc32(user_id) %
state_buckets``, mapped to the grouping value :meth:`StateLayout.bucket_keys` picks so Spark
spreads buckets evenly), not the card; the source already hands Spark one row per bucket of
each chunk it reads, all of the bucket's packed records in it
(:func:`rtad.streaming.records.by_bucket`). And each state call is a round trip to the JVM, so
the state is not stored card by card either: a bucket's cards live in ``state_slots`` *slots*
(a MapState keyed by slot), each slot's value one Arrow table of its cards
(:mod:`rtad.streaming.card_state`). A micro-batch reads each slot its rows touch once, runs ONE
vectorised feature step over the bucket's rows, and writes each touched slot back once — so
every card is read and written exactly once per batch, and a batch costs two state calls per
touched slot instead of two per card.

The trade-off: a touched slot is rewritten whole. With one slot per bucket (the default) a
batch rewrites every card of every bucket it touches, which is cheap up to some hundred
thousand cards in all; for millions of cards raise ``state_slots`` so a
slot holds some tens to hundreds of cards. Both knobs are fixed for a checkpoint's life.

TTL: each card carries the processing time of its last transaction; a card idle longer than
the TTL is dropped when its slot is next written and starts afresh if it comes back, and Spark
drops a slot nobody wrote for the TTL. The features themselves are event-time features —
``step_history`` orders each card's rows by event time, and a late row is slotted in by its
timestamp, never dropped by a watermark.

The processor writes its feature entries itself (:class:`rtad.streaming.feature_sink.FeatureWriter`,
idempotent per batch and bucket) and emits no rows: see :mod:`rtad.streaming.feature_sink`
for why, and for how a replayed batch writes nothing twice.
"""

from __future__ import annotations

from base64 import b64decode, b64encode
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.streaming.stateful_processor import (
    StatefulProcessor,
    StatefulProcessorHandle,
    TimerValues,
)
from pyspark.sql.types import IntegerType, StringType, StructField, StructType

from rtad.common.feature_entry import feature_set_id, packed_features
from rtad.common.runtime import settle_heap
from rtad.features.table import FEATURE_COLUMNS
from rtad.streaming import card_state, packed_records
from rtad.streaming.feature_sink import (
    FEATURES_COLUMN,
    PAYLOAD_COLUMN,
    SHARD_COLUMN,
    FeatureWriter,
    SinkTarget,
    streaming_batch,
)
from rtad.streaming.records import RECORDS_COLUMN, packed_of
from rtad.streaming.spark_hash import bucket_keys
from rtad.streaming.state_cache import SlotCache, new_tag, slot_tag_key

_SLOT_KEY = StructType([StructField("slot", IntegerType(), True)])
#: A slot's value: its cards' Arrow IPC bytes (:mod:`card_state`) in base64. Text, because the
#: state server sends a binary value to Python through its pickler one byte at a time (a
#: Java String built char by char), while ASCII text crosses as it is. Base64 adds a third
#: to the bytes.
_SLOT_VALUE = StructType([StructField("cards", StringType(), True)])


@dataclass(frozen=True)
class StateLayout:
    """How the processor keeps and emits its state: buckets (Spark's grouping), slots per
    bucket (stored values), and the feature columns it outputs."""

    columns: tuple[str, ...] = FEATURE_COLUMNS
    buckets: int = 4
    slots: int = 1

    def bucket_keys(self) -> list[int]:
        """The grouping value of each bucket (:func:`rtad.streaming.spark_hash.bucket_keys`)."""
        return bucket_keys(self.buckets)

    def output_ddl(self) -> str:
        """Spark schema of the processor's output rows (it emits none: it writes them)."""
        return "written long"

    @property
    def feature_set(self) -> str:
        """The id of :attr:`columns` in feature entries (:mod:`rtad.common.feature_entry`)."""
        return feature_set_id(self.columns)


def step_bucket(
    layout: StateLayout,
    stored: pa.Table,
    rows: packed_records.Unpacked,
    now_ms: int,
    ttl_ms: int,
) -> tuple[pa.Table, pa.RecordBatch]:
    """One bucket's micro-batch: stored cards + its records (:func:`packed_records.unpack`)
    → cards to store + the rows to write (row ``k`` is record ``k``'s: its shard, its head
    and its packed features, the columns :class:`FeatureWriter` takes)."""
    table, matrix = card_state.step_table(
        stored,
        rows.users,
        packed_records.feature_inputs(rows.fixed),
        now_ms,
        ttl_ms,
        layout.buckets,
        layout.slots,
    )
    if matrix.shape[1] != len(layout.columns):
        raise ValueError(f"{matrix.shape[1]} feature columns for {len(layout.columns)} names")
    out = pa.RecordBatch.from_arrays(
        [pa.array(rows.fixed["shard"].astype(np.int32)), rows.heads, packed_features(matrix)],
        names=[SHARD_COLUMN, PAYLOAD_COLUMN, FEATURES_COLUMN],
    )
    return table, out


class CardFeatureProcessor(StatefulProcessor):
    """``transformWithStateInPandas`` processor keyed by bucket: one read and one write per
    touched slot, one vectorised feature step per bucket, its rows written to ``target``
    as the layout's feature set
    (see the module docstring)."""

    def __init__(
        self, layout: StateLayout, ttl_ms: int, target: SinkTarget, cache: bool | str = True
    ) -> None:
        self.layout = layout
        self.ttl_ms = ttl_ms
        self.target = target
        self.use_cache = cache

    def init(self, handle: StatefulProcessorHandle) -> None:
        settle_heap()
        # schemas as StructType: a DDL string costs a parse call to the JVM per task and batch
        self.slots = handle.getMapState(
            "card_slots", _SLOT_KEY, _SLOT_VALUE, ttlDurationMs=self.ttl_ms
        )
        self.writer = FeatureWriter(self.target, self.layout.feature_set)
        self.cache: SlotCache | None = None  # made in a task (init also runs on the driver)

    def handleInputRows(
        self, key: Any, rows: Iterator[pd.DataFrame], timerValues: TimerValues
    ) -> Iterator[pd.DataFrame]:
        frames = list(rows)
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        records = packed_records.unpack(packed_of(frame[RECORDS_COLUMN].tolist()))
        users = pc.unique(records.users)
        touched = np.unique(card_state.slot_of(users, self.layout.buckets, self.layout.slots))
        query_id, batch_id = streaming_batch()
        if self.use_cache and self.cache is None:
            base = Path(self.use_cache) if isinstance(self.use_cache, str) else None
            self.cache = SlotCache.for_query(query_id, base)
        bucket = int(key[0])
        stored = [card_state.from_bytes(self._stored(bucket, s)) for s in touched.tolist()]
        now_ms = timerValues.getCurrentProcessingTimeInMs()
        table, out = step_bucket(
            self.layout, pa.concat_tables(stored), records, now_ms, self.ttl_ms
        )
        # before the state: if the task dies in between, its retry starts from the state as
        # it was, computes the same rows and finds them written
        self.writer.write(out, writer=f"bucket-{key[0]}")
        tag = new_tag(batch_id)
        for slot, value in card_state.by_slot(table, touched.tolist()).items():
            self.slots.updateValue((slot,), (b64encode(value).decode("ascii"),))
            self.slots.updateValue((slot_tag_key(slot),), (tag,))
            if self.cache is not None:
                self.cache.put(bucket, slot, tag, value)
        yield from ()

    def _stored(self, bucket: int, slot: int) -> bytes | None:
        """A slot's stored bytes: the executor's file when it holds the slot's tag, else the
        state store's value (:mod:`rtad.streaming.state_cache`); None for a new slot."""
        if self.cache is not None:
            tag = self.slots.getValue((slot_tag_key(slot),))
            cached = None if tag is None else self.cache.get(bucket, slot, tag[0])
            if cached is not None:
                return cached
        value = self.slots.getValue((slot,))
        return None if value is None else b64decode(value[0])

    def close(self) -> None:
        self.writer.close()
