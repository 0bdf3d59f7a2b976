"""Zero-amount transactions (account verifications): accepted, and no inf/NaN downstream."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pytest

from rtad.common.schema import InvalidRecord, decode_json, from_mapping
from rtad.features.card_features import batch_features
from rtad.features.table import FEATURE_COLUMNS
from rtad.generator.simulator import SimConfig, generate_frame

RECORD = {
    "transaction_id": "t-1",
    "timestamp": "2026-03-01T12:30:00+01:00",
    "user_id": "u-1",
    "merchant_id": "m-1",
    "amount": 0,
    "currency": "EUR",
    "latitude": 48.85,
    "longitude": 2.35,
}


def test_the_contract_takes_zero_and_refuses_negative_amounts() -> None:
    assert decode_json(orjson.dumps(RECORD)).amount == 0.0
    assert from_mapping({**RECORD, "amount": "0.00"}).amount == 0.0
    with pytest.raises(InvalidRecord, match="amount"):
        decode_json(orjson.dumps({**RECORD, "amount": -0.5}))


def _card(amounts: list[float]) -> pd.DataFrame:
    times = pd.date_range("2026-01-05 10:00", periods=len(amounts), freq="7min", tz="UTC")
    return pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(len(amounts))],
            "timestamp": times,
            "user_id": "u1",
            "merchant_id": [f"m{i % 3}" for i in range(len(amounts))],
            "amount": amounts,
            "currency": "EUR",
            "latitude": 48.85,
            "longitude": 2.35,
        }
    )


@pytest.mark.parametrize(
    "amounts",
    [
        [0.0, 0.0, 0.0, 0.0],  # a card whose whole history is zero: median 0
        [25.0, 30.0, 0.0, 0.0, 1.0, 400.0],  # verifications between purchases
        [0.0, 12.0, 0.0, 15.0],
    ],
)
def test_features_of_zero_amounts_are_finite(amounts: list[float]) -> None:
    features = batch_features(_card(amounts))[list(FEATURE_COLUMNS)].to_numpy()
    assert np.isfinite(features).all()


def test_a_zero_amount_among_purchases_looks_tiny_against_the_median() -> None:
    features = batch_features(_card([25.0, 30.0, 28.0, 0.0]))
    assert features["amount_ratio_log"].iloc[-1] < np.log(0.01)


def test_zero_amount_card_tests_give_finite_features() -> None:
    frame = generate_frame(
        SimConfig(count=20_000, customers=200, fraud_rate=0.05, scenarios={"card_testing": 1.0})
    )
    testing = frame.index[frame["fraud_scenario"] == "card_testing"]
    assert len(testing) > 10
    frame.loc[testing[::2], "amount"] = 0.0  # verifications among the tiny test charges
    features = batch_features(frame)[list(FEATURE_COLUMNS)].to_numpy()
    assert np.isfinite(features).all()


def test_the_spark_source_takes_a_zero_amount_record() -> None:
    from rtad.common.encoding import encode
    from rtad.streaming.records import to_record_batch

    entries = [(b"1-0", encode(RECORD)), (b"2-0", encode({**RECORD, "amount": -1}))]
    batch, dead = to_record_batch(entries, "rtad:tx:{0}", 0)
    assert batch.num_rows == 1 and [d.entry_id for d in dead] == [b"2-0"]
