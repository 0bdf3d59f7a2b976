"""The per-bucket step the Spark processor runs, on small frames (no Spark session)."""

from __future__ import annotations

import orjson
import pandas as pd
import pyarrow as pa

from rtad.streaming import features
from rtad.streaming.feature_sink import feature_payloads
from rtad.streaming.processor import FEATURE_PREFIX, FeatureLogic, step_cards


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


def test_state_round_trips_as_bytes_and_chunks_equal_one_pass() -> None:
    logic = FeatureLogic.default()
    whole = card_rows(9)
    _, one_pass = step_cards(logic, {"card-1": None}, whole)
    states, first = step_cards(logic, {"card-1": None}, whole.iloc[:4].copy())
    assert isinstance(states["card-1"], bytes)
    _, rest = step_cards(logic, states, whole.iloc[4:].copy())
    chunked = pd.concat([first, rest], ignore_index=True)
    pd.testing.assert_frame_equal(chunked, one_pass)
    assert list(one_pass.columns[-len(logic.columns) :]) == [
        FEATURE_PREFIX + c for c in features.FEATURE_COLUMNS
    ]


def test_a_bucket_of_interleaved_cards_equals_each_card_alone() -> None:
    logic = FeatureLogic.default()
    a, b = card_rows(6, user="card-a"), card_rows(5, start=20, user="card-b")
    b["latitude"] = 40.4  # another city
    mixed = pd.concat([a, b]).sort_values("timestamp", kind="stable").reset_index(drop=True)
    states, together = step_cards(logic, {"card-a": None, "card-b": None}, mixed)
    assert set(states) == {"card-a", "card-b"}
    _, alone_a = step_cards(logic, {"card-a": None}, a)
    _, alone_b = step_cards(logic, {"card-b": None}, b)
    by_id = together.set_index("transaction_id")
    for alone in (alone_a, alone_b):
        pd.testing.assert_frame_equal(
            by_id.loc[alone["transaction_id"]].reset_index(), alone, check_like=True
        )


def test_output_keeps_passthrough_columns_of_each_row() -> None:
    logic = FeatureLogic.default()
    rows = card_rows(3, labels=True)
    _, out = step_cards(logic, {"card-1": None}, rows)
    assert out["ingest_ms"].tolist() == rows["ingest_ms"].tolist()
    assert out["amount"].tolist() == rows["amount"].tolist()
    assert str(out["event_time"].dt.tz) == "UTC"


def test_feature_entry_json_matches_the_contract() -> None:
    logic = FeatureLogic.default()
    _, out = step_cards(logic, {"card-1": None}, card_rows(2, labels=True))
    _, plain = step_cards(logic, {"card-1": None}, card_rows(1))
    table = pa.Table.from_pandas(pd.concat([out, plain], ignore_index=True), preserve_index=False)
    entries = [orjson.loads(p) for _, p in feature_payloads(table.to_batches()[0], 1234)]
    assert entries[0]["event_time"] == "2026-01-05T10:00:00Z"
    assert entries[0]["feature_ms"] == 1234 and entries[0]["ingest_ms"] == 1_700_000_000_000
    assert entries[0]["is_fraud"] == 1 and entries[0]["fraud_scenario"] == "scam"
    assert set(entries[0]["features"]) == set(features.FEATURE_COLUMNS)
    assert "is_fraud" not in entries[2] and "fraud_scenario" not in entries[2]
