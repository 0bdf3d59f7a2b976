"""Each fraud scenario leaves the signature a fraud analyst would recognise."""

from __future__ import annotations

from datetime import datetime

import orjson
import pytest

from rtad.common.schema import decode_json
from rtad.generator.catalogue import MCC_INDEX
from rtad.generator.geo import distance_km
from rtad.generator.population import Customer
from rtad.generator.records import Record
from rtad.generator.scenarios import SCENARIOS
from rtad.generator.simulator import SimConfig, Simulator

NOW = datetime.fromisoformat("2026-01-07T14:00:00+01:00").timestamp()
SEEN = (35.68, 139.69)  # the genuine purchase just before: the card holder is in Tokyo


@pytest.fixture(scope="module")
def sim() -> Simulator:
    return Simulator(SimConfig(seed=11, customers=60, merchants=500))


def episode(sim: Simulator, name: str, card: int = 0) -> tuple[Customer, list[Record]]:
    victim = sim.pop.customers[card]
    events = SCENARIOS[name].build(sim.factory, victim, NOW, SEEN)
    assert [ts for ts, _ in events] == sorted(ts for ts, _ in events)
    assert all(ts > NOW for ts, _ in events)
    return victim, [record for _, record in events]


def seconds(record: Record) -> float:
    return datetime.fromisoformat(record["timestamp"]).timestamp()


def home_km(victim: Customer, record: Record) -> float:
    return distance_km(victim.latitude, victim.longitude, record["latitude"], record["longitude"])


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_is_labelled_and_valid(sim: Simulator, name: str) -> None:
    for card in range(5):
        _, records = episode(sim, name, card)
        assert records
        for record in records:
            assert record["is_fraud"] == 1 and record["fraud_scenario"] == name
            decode_json(orjson.dumps(record))  # raises if the contract is broken


def test_card_testing_tiny_online_burst_then_a_large_purchase(sim: Simulator) -> None:
    for card in range(10):
        _, records = episode(sim, "card_testing", card)
        tiny = [r for r in records if r["amount"] < 5]
        large = [r for r in records if r["amount"] >= 250]
        assert len(tiny) >= 3 and large and len(tiny) + len(large) == len(records)
        assert records[: len(tiny)] == tiny  # the tests come first
        assert all(r["channel"] == "online" for r in records)
        gaps = [seconds(b) - seconds(a) for a, b in zip(tiny, tiny[1:], strict=False)]
        assert max(gaps) <= 90  # a scripted burst, seconds apart
        assert len({(r["latitude"], r["longitude"]) for r in records}) == 1  # one device


def test_impossible_travel_is_far_away_minutes_after_the_genuine_purchase(sim: Simulator) -> None:
    for card in range(10):
        victim, records = episode(sim, "impossible_travel", card)
        first = records[0]
        minutes = (seconds(first) - NOW) / 60
        km = distance_km(*SEEN, first["latitude"], first["longitude"])
        assert 3 <= minutes <= 45 and km > 2000 and home_km(victim, first) > 2000
        assert km / (minutes / 60) > 2500  # km/h: no airliner does that
        assert first["channel"] == "pos"


def test_atm_cashout_is_a_night_burst_far_from_home(sim: Simulator) -> None:
    for card in range(10):
        victim, records = episode(sim, "atm_cashout", card)
        assert len(records) >= 4
        assert {r["channel"] for r in records} == {"atm"}
        assert {r["merchant_category"] for r in records} == {"6011"}
        local_hours = {datetime.fromisoformat(r["timestamp"]).hour for r in records}
        assert local_hours <= {0, 1, 2, 3, 4, 5}
        assert min(home_km(victim, r) for r in records) > 2000
        assert seconds(records[-1]) - seconds(records[0]) < 2 * 3600
        assert all(r["amount"] >= 200 for r in records)


def test_amount_spike_is_many_times_the_usual_amount_near_home(sim: Simulator) -> None:
    for card in range(10):
        victim, records = episode(sim, "amount_spike", card)
        for r in records:
            usual = victim.medians[MCC_INDEX[r["merchant_category"]]]
            assert r["amount"] >= 5.9 * usual
            assert r["channel"] == "pos" and home_km(victim, r) < 100


def test_compromised_merchant_hits_many_cards_in_a_short_window(sim: Simulator) -> None:
    for card in range(5):
        _, records = episode(sim, "compromised_merchant", card)
        assert len({r["merchant_id"] for r in records}) == 1
        assert len({r["user_id"] for r in records}) >= 5
        assert seconds(records[-1]) - seconds(records[0]) <= 40 * 60
        amounts = [r["amount"] for r in records]
        assert max(amounts) / min(amounts) < 1.1  # one price point


def test_account_takeover_buys_online_above_the_card_habits(sim: Simulator) -> None:
    for card in range(10):
        victim, records = episode(sim, "account_takeover", card)
        assert len(records) >= 3
        assert all(r["channel"] == "online" for r in records)
        for r in records:
            assert r["amount"] >= 1.4 * victim.medians[MCC_INDEX[r["merchant_category"]]]
