"""Input entries → Arrow rows and dead letters (pure, no Redis)."""

from __future__ import annotations

import gc
import zlib
from datetime import UTC, datetime

import orjson
import pytest

from rtad.common.encoding import encode
from rtad.common.runtime import paused_gc
from rtad.streaming.packed_records import unpack
from rtad.streaming.records import (
    ARROW_SCHEMA,
    SOURCE_SCHEMA,
    by_bucket,
    packed_of,
    to_record_batch,
)
from rtad.streaming.redis_source import shard_limits
from rtad.streaming.spark_hash import bucket_keys

VALID = {
    "transaction_id": "t1",
    "timestamp": "2026-01-05T10:00:00+01:00",
    "user_id": "u1",
    "merchant_id": "m1",
    "amount": 12.5,
    "currency": "EUR",
    "latitude": 48.85,
    "longitude": 2.35,
}


def heads(batch) -> list[dict]:
    """The entry heads packed in a source batch."""
    return [orjson.loads(h) for h in unpack(batch.column("record")).heads.to_pylist()]


def test_valid_entries_become_packed_rows_with_utc_time_and_ingest_ms() -> None:
    entries = [
        (b"1700000000123-0", encode(VALID)),
        (b"1700000000456-7", encode({**VALID, "is_fraud": 1, "channel": "atm"})),
    ]
    batch, dead = to_record_batch(entries, "rtad:tx:{2}", 2)
    assert dead == []
    assert batch.schema == ARROW_SCHEMA
    assert batch.column("user_id").to_pylist() == ["u1", "u1"]
    rows = unpack(batch.column("record"))
    nine_utc = datetime(2026, 1, 5, 9, 0, tzinfo=UTC).timestamp() * 1000
    assert rows.fixed["t"].tolist() == [nine_utc, nine_utc]
    assert rows.fixed["amount"].tolist() == [12.5, 12.5]
    assert rows.fixed["shard"].tolist() == [2, 2] and rows.users.to_pylist() == ["u1", "u1"]
    first, second = heads(batch)
    assert first["event_time"] == VALID["timestamp"]  # as the producer wrote it
    assert first["ingest_ms"] == 1700000000123 and second["ingest_ms"] == 1700000000456
    assert "is_fraud" not in first and second["is_fraud"] == 1
    # an optional field absent from the record is absent from the head and hashes to 0
    assert "channel" not in first and rows.fixed["channel"].tolist()[0] == 0
    assert rows.fixed["channel"].tolist()[1] != 0


def test_a_timestamp_key_inside_a_string_never_moves_the_event_time() -> None:
    tricky = {**VALID, "transaction_id": 'x"timestamp":"y', "merchant_id": '"timestamp":'}
    batch, dead = to_record_batch([(b"7-0", encode(tricky))], "rtad:tx:{0}", 0)
    assert dead == []
    (head,) = heads(batch)
    assert head["transaction_id"] == tricky["transaction_id"]
    assert head["merchant_id"] == tricky["merchant_id"]
    assert head["event_time"] == VALID["timestamp"] and "timestamp" not in head


def test_user_ids_of_any_length_and_script_unpack_as_written() -> None:
    users = ["u", "card-12345678", "x" * 128, "Zoë-Łódź-東京", 'a"b\\c']
    entries = [(f"{i}-0".encode(), encode({**VALID, "user_id": u})) for i, u in enumerate(users)]
    batch, dead = to_record_batch(entries, "rtad:tx:{0}", 0)
    assert dead == []
    assert unpack(batch.column("record")).users.to_pylist() == users
    assert [h["user_id"] for h in heads(batch)] == users


def test_bad_entries_are_dead_lettered_with_reason_payload_and_source() -> None:
    entries = [
        (b"1-0", {b"v": b"1", b"d": b"{oops"}),
        (b"2-0", {b"v": b"2", b"d": b"{}"}),
        (b"3-0", {b"x": b"y"}),
        (b"4-0", encode({**VALID, "amount": -3})),
        (b"5-0", encode({**VALID, "currency": "XXZ"})),
        (b"6-0", encode(VALID)),
    ]
    batch, dead = to_record_batch(entries, "rtad:tx:{2}", 2)
    assert batch.num_rows == 1
    assert [d.entry_id for d in dead] == [b"1-0", b"2-0", b"3-0", b"4-0", b"5-0"]
    assert "malformed JSON" in dead[0].reason and dead[0].payload == b"{oops"
    assert "version" in dead[1].reason
    assert orjson.loads(dead[2].payload) == {"x": "y"}
    assert "amount" in dead[3].reason
    assert "ISO 4217" in dead[4].reason
    assert dead[0].source == "rtad:tx:{2}/1-0"


def test_row_budget_is_spread_over_shards_without_exceeding_it() -> None:
    assert shard_limits(100_000, 4) == [25_000] * 4
    assert sum(shard_limits(10, 3)) == 10
    assert shard_limits(2, 4) == [1, 1, 1, 1]  # every shard makes progress


def test_a_payload_spanning_lines_never_shifts_records_between_entries() -> None:
    # two entries whose payloads, joined line by line, would parse as two valid records with
    # the second one's fields taken from the first entry: the careful path must catch it
    first = orjson.dumps(VALID) + b"\n" + orjson.dumps({**VALID, "transaction_id": "t9"})
    entries = [(b"1-0", {b"v": b"1", b"d": first}), (b"2-0", encode(VALID))]
    batch, dead = to_record_batch(entries, "rtad:tx:{0}", 0)
    assert [d.entry_id for d in dead] == [b"1-0"]
    assert heads(batch)[0]["ingest_ms"] == 2


def test_two_records_in_one_entry_beside_an_empty_one_never_shift_rows() -> None:
    # one line, two objects, then an empty payload: as many records as entries once joined,
    # but each on the wrong entry; both entries must be dead letters, the third a row
    two = orjson.dumps(VALID) + orjson.dumps({**VALID, "transaction_id": "t9"})
    entries = [
        (b"1-0", {b"v": b"1", b"d": two}),
        (b"2-0", {b"v": b"1", b"d": b""}),
        (b"3-0", encode({**VALID, "transaction_id": "t3"})),
    ]
    batch, dead = to_record_batch(entries, "rtad:tx:{0}", 0)
    assert [d.entry_id for d in dead] == [b"1-0", b"2-0"]
    assert heads(batch)[0]["transaction_id"] == "t3"
    assert heads(batch)[0]["ingest_ms"] == 3


def test_one_bad_entry_among_many_is_the_only_dead_letter() -> None:
    entries = [(f"{i}-0".encode(), encode({**VALID, "transaction_id": f"t{i}"})) for i in range(50)]
    entries[17] = (b"17-0", encode({**VALID, "amount": -1}))
    batch, dead = to_record_batch(entries, "rtad:tx:{0}", 0)
    assert [d.entry_id for d in dead] == [b"17-0"] and "amount" in dead[0].reason
    assert batch.num_rows == 49


def flat(fields: dict[bytes, bytes]) -> list[bytes]:
    """An entry's fields as Redis sends them (what the source's raw XRANGE hands over)."""
    return [part for item in fields.items() for part in item]


def test_flat_entries_give_the_same_rows_and_dead_letters_as_mapped_ones() -> None:
    entries = [(f"{i}-0".encode(), encode({**VALID, "transaction_id": f"t{i}"})) for i in range(9)]
    entries[3] = (b"3-0", {b"d": encode(VALID)[b"d"], b"v": b"1"})  # other order: still valid
    entries[4] = (b"4-0", {**encode(VALID), b"extra": b"x"})  # extra field: still valid
    mapped = to_record_batch(entries, "rtad:tx:{0}", 0)
    assert mapped[1] == [] and mapped[0].num_rows == 9
    assert to_record_batch([(i, flat(f)) for i, f in entries], "rtad:tx:{0}", 0) == mapped
    entries[6] = (b"6-0", {b"v": b"2", b"d": b"{}"})
    entries[7] = (b"7-0", encode({**VALID, "amount": -1}))
    entries[8] = (b"8-0", {b"v": b"1", b"x": b"y"})  # four flat fields, but not v 1 d ...
    mapped = to_record_batch(entries, "rtad:tx:{0}", 0)
    assert [d.entry_id for d in mapped[1]] == [b"6-0", b"7-0", b"8-0"]
    assert to_record_batch([(i, flat(f)) for i, f in entries], "rtad:tx:{0}", 0) == mapped


def test_a_repeated_field_keeps_its_last_value_as_redis_py_did() -> None:
    fields = [b"v", b"1", b"d", b"{oops", b"d", orjson.dumps(VALID)]
    batch, dead = to_record_batch([(b"5-0", fields)], "rtad:tx:{0}", 0)
    assert dead == [] and heads(batch)[0]["transaction_id"] == "t1"


def test_ingest_ms_is_the_millisecond_part_of_any_stream_id() -> None:
    ids = [b"0-0", b"1700000000123-4", b"99999999999999-18446744073709551615"]
    entries = [(i, flat(encode(VALID))) for i in ids]
    batch, _ = to_record_batch(entries, "rtad:tx:{0}", 0)
    assert [h["ingest_ms"] for h in heads(batch)] == [0, 1700000000123, 99999999999999]


def test_paused_gc_restores_the_collector_as_it_was() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), paused_gc():
        assert not gc.isenabled()
        raise RuntimeError("a failing decode")
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # left off: someone else paused it
    finally:
        gc.enable()


def test_a_slice_of_packed_records_unpacks_like_the_same_rows_of_the_whole() -> None:
    # Spark hands the processor Arrow batches that may be slices of larger buffers
    entries = [(f"{i}-0".encode(), encode({**VALID, "transaction_id": f"t{i}"})) for i in range(50)]
    batch, _ = to_record_batch(entries, "rtad:tx:{1}", 1)
    whole, part = unpack(batch.column("record")), unpack(batch.column("record").slice(13, 20))
    assert part.users.to_pylist() == whole.users.to_pylist()[13:33]
    assert part.heads.to_pylist() == whole.heads.to_pylist()[13:33]
    assert part.fixed.tobytes() == whole.fixed[13:33].tobytes()
    assert orjson.loads(part.heads[0].as_py())["transaction_id"] == "t13"


def test_by_bucket_gives_each_bucket_its_cards_records_in_order() -> None:
    entries = [
        (f"{i}-0".encode(), encode({**VALID, "transaction_id": f"t{i}", "user_id": f"u{i % 13}"}))
        for i in range(200)
    ]
    batch, _ = to_record_batch(entries, "rtad:tx:{1}", 1)
    keys = bucket_keys(4)
    rows = by_bucket(batch, keys)
    assert rows.schema == SOURCE_SCHEMA
    assert rows.column("state_bucket").to_pylist() == sorted(
        rows.column("state_bucket").to_pylist(), key=keys.index
    )  # bucket order, each bucket once
    everything = []
    for key, count, blob in zip(*(c.to_pylist() for c in rows.columns), strict=True):
        records = packed_of([blob])
        users = unpack(records).users.to_pylist()
        assert count == len(users) > 0
        assert {zlib.crc32(u.encode()) % 4 for u in users} == {keys.index(key)}
        everything += records.to_pylist()
        mine = [
            r
            for r, u in zip(
                batch.column("record").to_pylist(), batch.column("user_id").to_pylist(), strict=True
            )
            if zlib.crc32(u.encode()) % 4 == keys.index(key)
        ]
        assert records.to_pylist() == mine  # in the order they were read
    assert sorted(everything) == sorted(batch.column("record").to_pylist())
    # several rows of one bucket (chunks) concatenate in their order
    two = packed_of(rows.column("records").to_pylist()[:2])
    assert two.to_pylist() == everything[: len(two)]


def test_by_bucket_of_nothing_is_no_row() -> None:
    batch, _ = to_record_batch([], "rtad:tx:{0}", 0)
    assert by_bucket(batch, bucket_keys(4)).num_rows == 0
