"""The simulated timeline: deterministic, in event-time order, valid, and with the right mix."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from statistics import median

import orjson
import pytest

from rtad.common.schema import REQUIRED_FIELDS, decode_json
from rtad.generator.catalogue import HOME_COUNTRIES
from rtad.generator.records import Record
from rtad.generator.simulator import SimConfig, generate_frame, generate_records

BASE = SimConfig(seed=3, count=20_000, fraud_rate=0.02)


@pytest.fixture(scope="module")
def records() -> list[Record]:
    return list(generate_records(BASE))


def small(**changes: object) -> list[Record]:
    fields = {"seed": 5, "count": 3000, "customers": 100, "merchants": 400, **changes}
    return list(generate_records(SimConfig(**fields)))  # type: ignore[arg-type]


def test_same_seed_same_records_other_seed_other_records() -> None:
    assert small() == small()
    assert small(seed=6) != small()


def test_every_record_satisfies_the_contract(records: list[Record]) -> None:
    for record in records:
        tx = decode_json(orjson.dumps(record))
        assert tx.timestamp.tzinfo is not None
    assert all(set(REQUIRED_FIELDS) <= record.keys() for record in records)
    assert len({r["transaction_id"] for r in records}) == len(records)


def test_records_come_in_event_time_order(records: list[Record]) -> None:
    times = [datetime.fromisoformat(r["timestamp"]) for r in records]
    assert times == sorted(times)
    assert times[0] >= BASE.start


def test_fraud_share_and_scenario_mix(records: list[Record]) -> None:
    labels = Counter(r.get("fraud_scenario", "genuine") for r in records)
    fraud = sum(r["is_fraud"] for r in records)
    assert 0.015 <= fraud / len(records) <= 0.025
    assert len(labels) - 1 >= 5  # at least five scenarios besides genuine


def test_genuine_rows_have_no_scenario_and_fraud_rows_have_one(records: list[Record]) -> None:
    for r in records:
        assert ("fraud_scenario" in r) == (r["is_fraud"] == 1)


def test_genuine_data_has_irregularities_not_just_routine(records: list[Record]) -> None:
    genuine = [r for r in records if r["is_fraud"] == 0]
    abroad = [r for r in genuine if r["country"] not in HOME_COUNTRIES]
    assert 0.002 < len(abroad) / len(genuine) < 0.1  # trips
    online = sum(r["channel"] == "online" for r in genuine) / len(genuine)
    assert 0.1 < online < 0.4
    by_card: dict[str, list[float]] = {}
    for r in genuine:
        by_card.setdefault(r["user_id"], []).append(r["amount"])
    big = sum(a > 8 * median(v) for v in by_card.values() for a in v)
    assert big / len(genuine) > 0.005  # large genuine purchases exist


def test_daily_rhythm_quiet_nights(records: list[Record]) -> None:
    genuine = [r for r in records if r["is_fraud"] == 0]
    hours = Counter(datetime.fromisoformat(r["timestamp"]).hour for r in genuine)
    night = sum(hours[h] for h in (2, 3, 4)) / len(genuine)
    evening = sum(hours[h] for h in (17, 18, 19)) / len(genuine)
    assert night < 0.03 and evening > 0.15


def test_options_shape_the_data() -> None:
    base = small(fraud_rate=0.0)
    scaled = small(fraud_rate=0.0, amount_scale=10.0)
    ratio = median(r["amount"] for r in scaled) / median(r["amount"] for r in base)
    assert 7 < ratio < 13
    assert not any(r["is_fraud"] for r in base)
    only_atm = small(fraud_rate=0.05, scenarios={"atm_cashout": 1.0})
    assert {r["fraud_scenario"] for r in only_atm if r["is_fraud"]} == {"atm_cashout"}
    assert len({r["user_id"] for r in small(customers=30)}) <= 30
    start = datetime(2025, 6, 1, 12, tzinfo=UTC)
    assert datetime.fromisoformat(small(start=start)[0]["timestamp"]) >= start


def test_mix_weights_are_shares_of_fraud_records() -> None:
    rows = small(count=20_000, fraud_rate=0.05, scenarios={"card_testing": 3, "amount_spike": 1})
    labels = Counter(r["fraud_scenario"] for r in rows if r["is_fraud"])
    assert set(labels) == {"card_testing", "amount_spike"}
    assert 2 < labels["card_testing"] / labels["amount_spike"] < 4.5


def test_bad_config_is_refused_with_a_clear_reason() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        SimConfig(scenarios={"bank_robbery": 1})
    with pytest.raises(ValueError, match="fraud_rate"):
        SimConfig(fraud_rate=1.5)


def test_frame_helper_parses_timestamps() -> None:
    frame = generate_frame(SimConfig(seed=1, count=500, customers=40, merchants=300))
    assert len(frame) == 500 and str(frame["timestamp"].dt.tz) == "UTC"
