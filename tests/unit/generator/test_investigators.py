"""The simulated investigators' desk (pure): who is reviewed, when verdicts and chargebacks
come back, and that memory stays bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rtad.generator.investigators import InvestigatorConfig, Investigators

DAY0 = datetime(2026, 1, 5, tzinfo=UTC)


def at(days: float, hours: float = 0) -> datetime:
    return DAY0 + timedelta(days=days, hours=hours)


def desk(capacity: int = 2, analyst: float = 1, chargeback: float = 7) -> Investigators:
    config = InvestigatorConfig(capacity, timedelta(days=analyst), timedelta(days=chargeback))
    return Investigators(config)


def test_the_top_alerts_of_a_day_are_reviewed_up_to_capacity() -> None:
    d = desk(capacity=2)
    d.observe("f1", "u1", True, at(0, 9))
    for tx, score in (("f1", 0.9), ("g1", 0.95), ("g2", 0.1), ("g3", 0.5)):
        d.alert(tx, "u" + tx, score, at(0, 10))
    assert d.advance(at(1)) == []  # the day is reviewed, the verdicts are not given yet
    out = d.advance(at(1, 10))
    assert {(x.transaction_id, x.verdict, x.source) for x in out} == {
        ("g1", "genuine", "simulated"),
        ("f1", "fraud", "simulated"),
    }
    assert all(x.given_at == at(1, 10) for x in out)  # the alert's time + the analyst delay


def test_a_missed_fraud_comes_back_as_a_chargeback_after_the_delay() -> None:
    d = desk(capacity=1)
    d.observe("f1", "u1", True, at(0, 8))
    d.observe("f2", "u2", True, at(0, 9))
    d.alert("f2", "u2", 0.9, at(0, 9))
    d.alert("f1", "u1", 0.1, at(0, 8))  # beyond capacity: not reviewed
    early = d.advance(at(7, 7))
    assert [(x.transaction_id, x.source) for x in early] == [("f2", "simulated")]
    late = d.advance(at(7, 8))
    assert [(x.transaction_id, x.verdict, x.source) for x in late] == [
        ("f1", "fraud", "chargeback")
    ]
    assert late[0].given_at == at(7, 8)
    assert d.advance(at(30)) == []  # a reviewed fraud is never charged back as well


def test_verdicts_come_out_in_given_order_whatever_the_clock_jump() -> None:
    d = desk(capacity=5, analyst=1, chargeback=2)
    d.observe("f0", "u0", True, at(0, 1))
    for day in range(3):
        d.alert(f"g{day}", "u", 0.5, at(day, 12))
    out = d.advance(at(10))
    times = [x.given_at for x in out]
    assert times == sorted(times) and len(out) == 4
    assert [x.source for x in out].count("chargeback") == 1


def test_late_and_repeated_alerts() -> None:
    d = desk(capacity=3)
    d.alert("g1", "u", 0.5, at(0, 1))
    d.alert("g1", "u", 0.5, at(0, 1))  # written twice, reviewed once
    d.advance(at(1))
    d.alert("g2", "u", 0.9, at(0, 23))  # its day was reviewed already
    assert d.counts.alerts == 1 and d.counts.late_alerts == 1
    assert [x.transaction_id for x in d.advance(at(3))] == ["g1"]


def test_memory_holds_frauds_and_open_alerts_only() -> None:
    d = desk(capacity=10, chargeback=7)
    for day in range(60):
        for i in range(200):
            tx = f"{day}-{i}"
            d.observe(tx, "u", i == 0, at(day, i / 10))  # one fraud a day, the rest genuine
            d.alert(tx, "u", i / 200, at(day, i / 10))
        d.advance(at(day + 1))
    # a week of frauds still due, today's verdicts due tomorrow: never the 12,000 transactions
    assert d.remembered <= 7 + 10 + 10
    assert d.counts.reviewed == 600


def test_with_nothing_scored_the_frauds_waiting_are_capped_and_the_oldest_forgotten() -> None:
    config = InvestigatorConfig(2, timedelta(days=1), timedelta(days=7), max_frauds=100)
    d = Investigators(config)
    for i in range(1000):  # the scorer is down: the clock never moves
        d.observe(f"f{i}", "u", True, at(0, i / 100))
    assert d.remembered == 100 and d.counts.forgotten == 900
    out = d.advance(at(30))  # the scorer is back: the 100 newest come back, the rest never
    assert sorted(x.transaction_id for x in out) == sorted(f"f{i}" for i in range(900, 1000))
    assert {x.source for x in out} == {"chargeback"} and d.remembered == 0


@pytest.mark.parametrize(
    "kwargs", [{"capacity": -1}, {"analyst_delay": timedelta(days=-1)}, {"max_frauds": 0}]
)
def test_impossible_settings_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="investigator"):
        InvestigatorConfig(**kwargs)
