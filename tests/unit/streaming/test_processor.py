"""The per-bucket step the Spark processor runs, on small frames (no Spark session)."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pytest

from rtad.common.feature_entry import (
    decode_feature_entry,
    feature_set_id,
    finish_heads,
    packed_features,
)
from rtad.features import card_features as features
from rtad.features.table import FEATURE_COLUMNS
from rtad.streaming import card_state
from rtad.streaming.feature_sink import FEATURES_COLUMN, PAYLOAD_COLUMN, SHARD_COLUMN
from rtad.streaming.processor import StateLayout
from rtad.streaming.processor import step_bucket as step_rows
from rtad.streaming.spark_hash import hash_long

from .packing import (
    frame_transactions,
    heads,
    ids,
    packed,
    reference_fields,
    unpacked_features,
)

NOW = 1_800_000_000_000
TTL = 3_600_000
LOGIC = StateLayout()


def card_rows(n: int, start: int = 0, labels: bool = False, user: str = "card-1") -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(start, start + n)],
            "timestamp": pd.date_range("2026-01-05 10:00", periods=n, freq="7min").tz_localize(
                None
            )[:n]
            + pd.Timedelta(minutes=7 * start),
            "user_id": user,
            "merchant_id": [f"m{i % 3}" for i in range(n)],
            "amount": [10.0 + i for i in range(n)],
            "currency": "EUR",
            "latitude": 48.85,
            "longitude": 2.35,
            "merchant_category": None,
            "channel": None,
            "country": None,
            "is_fraud": [1] * n if labels else [None] * n,
            "fraud_scenario": ["scam"] * n if labels else [None] * n,
            "ingest_ms": [1_700_000_000_000 + i for i in range(n)],
        }
    )
    return frame


def step_bucket(*args: object) -> tuple[pa.Table, pd.DataFrame]:
    """The bucket step with its rows to write as a DataFrame (the Arrow batch's columns)."""
    table, rows = step_rows(*args)  # type: ignore[arg-type]
    assert isinstance(rows, pa.RecordBatch)
    return table, rows.to_pandas()


def stored_round_trip(table: pa.Table) -> pa.Table:
    """What Spark's state store gives back: the IPC bytes of the table."""
    return card_state.from_bytes(card_state.to_bytes(table))


def test_state_round_trips_as_bytes_and_chunks_equal_one_pass() -> None:
    whole = card_rows(9)
    empty = card_state.empty_table()
    _, one_pass = step_bucket(LOGIC, empty, packed(whole), NOW, TTL)
    table, first = step_bucket(LOGIC, empty, packed(whole.iloc[:4].copy()), NOW, TTL)
    assert table.num_rows == 1 and table["n"].to_pylist() == [4]
    _, rest = step_bucket(
        LOGIC, stored_round_trip(table), packed(whole.iloc[4:].copy()), NOW + 1, TTL
    )
    chunked = pd.concat([first, rest], ignore_index=True)
    pd.testing.assert_frame_equal(chunked, one_pass)
    assert one_pass.columns[-1] == FEATURES_COLUMN
    assert unpacked_features(one_pass[FEATURES_COLUMN], len(LOGIC.columns)).shape == (9, 29)


def test_the_table_holds_the_same_state_as_the_dict_api() -> None:
    rows = card_rows(40)
    rows["channel"] = ["pos", "online"] * 20
    table, _ = step_bucket(LOGIC, card_state.empty_table(), packed(rows), NOW, TTL)
    state, _ = features.card_step(
        None, rows.assign(timestamp=rows["timestamp"].dt.tz_localize("UTC"))
    )
    stored = table.to_pylist()[0]
    assert stored["n"] == state["n"] == 40
    for key in (*features.WINDOW_KEYS, *features.MEMORIES):
        assert stored[key] == state[key], key


def test_a_bucket_of_interleaved_cards_equals_each_card_alone() -> None:
    a, b = card_rows(6, user="card-a"), card_rows(5, start=20, user="card-b")
    b["latitude"] = 40.4  # another city
    mixed = pd.concat([a, b]).sort_values("timestamp", kind="stable").reset_index(drop=True)
    empty = card_state.empty_table()
    table, together = step_bucket(LOGIC, empty, packed(mixed), NOW, TTL)
    assert sorted(table["user_id"].to_pylist()) == ["card-a", "card-b"]
    _, alone_a = step_bucket(LOGIC, empty, packed(a), NOW, TTL)
    _, alone_b = step_bucket(LOGIC, empty, packed(b), NOW, TTL)
    by_id = together.set_index(pd.Index(ids(together)))
    for alone in (alone_a, alone_b):
        pd.testing.assert_frame_equal(
            by_id.loc[ids(alone)].reset_index(drop=True), alone, check_like=True
        )


def test_untouched_cards_are_kept_and_idle_ones_expire() -> None:
    empty = card_state.empty_table()
    table, _ = step_bucket(LOGIC, empty, packed(card_rows(3, user="old")), NOW, TTL)
    table, _ = step_bucket(LOGIC, table, packed(card_rows(3, user="recent")), NOW + TTL // 2, TTL)
    # within the TTL of both: "old" is untouched and kept as it was
    later, _ = step_bucket(LOGIC, table, packed(card_rows(1, user="other")), NOW + TTL - 1, TTL)
    assert sorted(later["user_id"].to_pylist()) == ["old", "other", "recent"]
    assert later.filter(pa.compute.equal(later["user_id"], "old"))["n"].to_pylist() == [3]
    # "old" is idle for the TTL: dropped; it comes back as a new card
    after, out = step_bucket(
        LOGIC, later, packed(card_rows(1, start=9, user="old")), NOW + TTL, TTL
    )
    count = FEATURE_COLUMNS.index("history_log_count")
    assert unpacked_features(out[FEATURES_COLUMN], len(LOGIC.columns))[:, count].tolist() == [0.0]
    assert after.filter(pa.compute.equal(after["user_id"], "old"))["n"].to_pylist() == [1]
    # "recent" was seen TTL/2 later: still there
    assert "recent" in after["user_id"].to_pylist()


def test_slots_split_and_rejoin_the_same_cards() -> None:
    layout = StateLayout(buckets=4, slots=8)
    rows = pd.concat([card_rows(2, user=f"card-{k}") for k in range(30)], ignore_index=True)
    table, _ = step_bucket(layout, card_state.empty_table(), packed(rows), NOW, TTL)
    slots = card_state.slot_of(table["user_id"].to_pylist(), 4, 8)
    assert table["slot"].to_pylist() == slots.tolist() and len(set(slots.tolist())) > 1
    values = card_state.by_slot(table, sorted(set(slots.tolist())))
    rejoined = pa.concat_tables([card_state.from_bytes(v) for v in values.values()])
    assert sorted(rejoined["user_id"].to_pylist()) == sorted(table["user_id"].to_pylist())
    assert sum(t.num_rows for t in map(card_state.from_bytes, values.values())) == 30


def test_a_value_of_another_layout_starts_afresh() -> None:
    assert card_state.from_bytes(None).num_rows == 0
    other = pa.table({"user_id": ["card-1"], "n": [5]})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, other.schema) as writer:
        writer.write_table(other)
    assert card_state.from_bytes(sink.getvalue().to_pybytes()).num_rows == 0


@pytest.mark.parametrize("cards", [1, 50])
def test_many_batches_equal_batch_features(cards: int) -> None:
    rng = np.random.default_rng(cards)
    rows = pd.concat(
        [card_rows(12, start=3 * k, user=f"card-{k}") for k in range(cards)], ignore_index=True
    )
    rows["amount"] = rng.lognormal(3, 1, len(rows)).round(2)
    rows["transaction_id"] = [f"t{k}" for k in range(len(rows))]
    rows = rows.sort_values("timestamp", kind="stable", ignore_index=True)
    table, parts = card_state.empty_table(), []
    for k, chunk in enumerate(np.array_split(np.arange(len(rows)), 5)):
        table, out = step_bucket(LOGIC, table, packed(rows.iloc[chunk].copy()), NOW + k, TTL)
        table = stored_round_trip(table)
        parts.append(out)
    streamed = pd.concat(parts, ignore_index=True)
    streamed = streamed.set_index(pd.Index(ids(streamed)))
    expected = features.batch_features(
        rows.assign(timestamp=rows["timestamp"].dt.tz_localize("UTC"))
    ).set_index("transaction_id")
    got = unpacked_features(streamed.loc[expected.index, FEATURES_COLUMN], len(LOGIC.columns))
    np.testing.assert_array_equal(got, expected[list(FEATURE_COLUMNS)])


def test_output_keeps_each_rows_head_and_shard() -> None:
    rows = card_rows(3, labels=True)
    _, out = step_bucket(LOGIC, card_state.empty_table(), packed(rows, shard=3), NOW, TTL)
    assert list(out.columns) == [SHARD_COLUMN, PAYLOAD_COLUMN, FEATURES_COLUMN]
    assert out[SHARD_COLUMN].tolist() == [3, 3, 3]
    got = heads(out)
    assert [h["ingest_ms"] for h in got] == rows["ingest_ms"].tolist()
    assert [h["amount"] for h in got] == rows["amount"].tolist()
    assert [h["transaction_id"] for h in got] == rows["transaction_id"].tolist()
    assert got[0]["event_time"] == "2026-01-05T10:00:00Z" and "timestamp" not in got[0]


def test_packed_features_keep_every_double_bit_for_bit() -> None:
    matrix = np.array([[np.nan, np.inf, -np.inf, -0.0], [5e-324, 1.7976931348623157e308, 1 / 3, 0]])
    packed = packed_features(matrix)
    assert packed.type == pa.binary() and len(packed) == 2
    assert packed[1].as_py() == matrix[1].astype("<f8").tobytes()
    assert unpacked_features(packed, 4).tobytes() == matrix.tobytes()
    assert len(packed_features(np.empty((0, 4)))) == 0


def test_feature_entries_are_the_reference_bytes() -> None:
    empty = card_state.empty_table()
    labelled, plain = card_rows(2, labels=True), card_rows(1, start=5)
    plain["channel"] = "atm"
    _, out = step_bucket(LOGIC, empty, packed(labelled), NOW, TTL)
    _, more = step_bucket(LOGIC, empty, packed(plain), NOW, TTL)
    out = pd.concat([out, more], ignore_index=True)
    names = LOGIC.columns
    payloads = finish_heads(pa.array(out[PAYLOAD_COLUMN].tolist()), 1234, LOGIC.feature_set)
    xs = unpacked_features(out[FEATURES_COLUMN], len(names))
    records = frame_transactions(pd.concat([labelled, plain], ignore_index=True))
    ingest = [*labelled["ingest_ms"], *plain["ingest_ms"]]
    for payload, x, tx, ms in zip(payloads.to_pylist(), xs, records, ingest, strict=True):
        assert payload == reference_fields(tx, ms, x, names, 1234)[b"d"]
    known = {feature_set_id(names): names}
    entry = decode_feature_entry(
        {b"v": b"2", b"d": payloads[0].as_py(), b"x": xs[0].tobytes()}, known
    )
    # decoding found the set by its id: the head names LOGIC's feature set
    assert entry["event_time"] == "2026-01-05T10:00:00Z"
    assert entry["feature_ms"] == 1234 and entry["ingest_ms"] == 1_700_000_000_000
    assert entry["is_fraud"] == 1 and entry["fraud_scenario"] == "scam"
    assert list(entry["features"]) == list(FEATURE_COLUMNS)
    last = orjson.loads(payloads[2].as_py())
    assert "is_fraud" not in last and "fraud_scenario" not in last and last["channel"] == "atm"


@pytest.mark.parametrize("buckets", [1, 2, 4, 16, 64])
def test_bucket_keys_spread_the_buckets_evenly_over_power_of_two_tasks(buckets: int) -> None:
    keys = StateLayout(buckets=buckets).bucket_keys()
    assert len(set(keys)) == buckets
    tasks = 1
    while tasks <= buckets:
        counts = np.bincount([hash_long(k) % tasks for k in keys], minlength=tasks)
        assert counts.tolist() == [buckets // tasks] * tasks, (tasks, counts)
        tasks *= 2
