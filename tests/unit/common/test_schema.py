"""The transaction contract: what is accepted, what is refused and why."""

from __future__ import annotations

import orjson
import pytest

from rtad.common.schema import InvalidRecord, Transaction, decode_json, from_mapping, to_json

GOOD = {
    "transaction_id": "t-1",
    "timestamp": "2026-03-01T12:30:00+01:00",
    "user_id": "u-1",
    "merchant_id": "m-1",
    "amount": 42.5,
    "currency": "EUR",
    "latitude": 48.85,
    "longitude": 2.35,
}


def test_required_fields_only_are_enough() -> None:
    tx = decode_json(orjson.dumps(GOOD))
    assert isinstance(tx, Transaction)
    assert tx.is_fraud is None and tx.channel is None
    assert decode_json(to_json(tx)) == tx


def test_optional_fields_and_unknown_extras() -> None:
    tx = decode_json(orjson.dumps({**GOOD, "channel": "atm", "is_fraud": 1, "extra": [1, 2]}))
    assert tx.channel == "atm" and tx.is_fraud == 1


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"timestamp": "2026-03-01T12:30:00"}, "timezone"),
        ({"timestamp": "yesterday"}, "datetime"),
        ({"amount": -3}, "amount"),
        ({"amount": -0.01}, "amount"),
        ({"amount": 1e300}, "amount"),
        ({"currency": "XYZ"}, "ISO 4217"),
        ({"currency": "eur"}, "currency"),
        ({"latitude": 91}, "latitude"),
        ({"longitude": -181}, "longitude"),
        ({"user_id": ""}, "user_id"),
        ({"user_id": " "}, "user_id"),
        ({"transaction_id": "x" * 129}, "transaction_id"),
        ({"channel": "fax"}, "channel"),
        ({"is_fraud": 2}, "is_fraud"),
    ],
)
def test_refusals_say_what_is_wrong(change: dict, needle: str) -> None:
    with pytest.raises(InvalidRecord) as info:
        decode_json(orjson.dumps({**GOOD, **change}))
    message = str(info.value)
    assert needle.lower() in message.lower(), message
    assert "\n" not in message


def test_missing_field_is_named() -> None:
    record = dict(GOOD)
    del record["merchant_id"]
    with pytest.raises(InvalidRecord, match="merchant_id"):
        decode_json(orjson.dumps(record))


def test_broken_json_is_refused() -> None:
    with pytest.raises(InvalidRecord, match="JSON"):
        decode_json(b'{"transaction_id": "t-1", ')


def test_csv_row_of_strings_is_converted() -> None:
    row = {k: str(v) for k, v in GOOD.items()} | {"channel": "", "is_fraud": "0"}
    tx = from_mapping(row)
    assert tx.amount == 42.5 and tx.latitude == 48.85 and tx.is_fraud == 0
    assert tx.channel is None


@pytest.mark.parametrize("bad", ["nan", "inf", "-1", "abc"])
def test_csv_amount_must_be_a_positive_finite_number(bad: str) -> None:
    with pytest.raises(InvalidRecord, match="amount"):
        from_mapping({k: str(v) for k, v in GOOD.items()} | {"amount": bad})


def test_parquet_style_timestamps_are_accepted_when_zoned() -> None:
    import pandas as pd

    row = dict(GOOD) | {"timestamp": pd.Timestamp("2026-03-01 11:30:00.123456789", tz="UTC")}
    assert from_mapping(row).timestamp.isoformat().startswith("2026-03-01T11:30:00.123456")
    with pytest.raises(InvalidRecord, match="timezone"):
        from_mapping(dict(GOOD) | {"timestamp": pd.Timestamp("2026-03-01 11:30:00")})
