"""Quality figures on small hand-computed cases (rtad.scorer.quality)."""

from __future__ import annotations

import pytest

from rtad.scorer.quality import AlertRecord, Verdict, card_precision, model_quality, split_held

DAY = 86_400_000
D1, D2 = "1970-01-02", "1970-01-03"


def verdict(tx: str, card: str, fraud: bool, arrival: int = 0, shard: int = 0) -> Verdict:
    return Verdict(tx, card, fraud, given_ms=arrival, arrival_ms=arrival, shard=shard)


@pytest.fixture
def case() -> tuple[list[Verdict], dict[str, AlertRecord]]:
    """Four alerts of day 1 (three reviewed: two frauds), a fraud charged back unalerted,
    one fraud alerted on day 2; cards c1 (two frauds, the first unalerted), c2, c3, c4."""
    alerts = {
        "a1": AlertRecord(DAY + 3_600_000, "c1", 0.9, "stolen_card"),
        "a2": AlertRecord(DAY + 1000, "c2", 0.8, None),
        "a3": AlertRecord(DAY + 2000, "c3", 0.7, "card_testing"),
        "b1": AlertRecord(2 * DAY, "c4", 0.95, "card_testing"),
    }
    verdicts = [
        verdict("a1", "c1", True),
        verdict("a2", "c2", False),
        verdict("a3", "c3", True),
        verdict("m1", "c1", True),  # charged back, never alerted
        verdict("b1", "c4", True),
    ]
    return verdicts, alerts


def test_precision_recall_and_scenarios_by_hand(case) -> None:
    verdicts, alerts = case
    top = {D1: ["c1", "c2", "c3"], D2: ["c4"]}
    q = model_quality(verdicts, alerts, top, k=2, known=alerts)
    assert (q.reviewed_alerts, q.fraud_alerts) == (4, 3)
    assert q.precision == pytest.approx(3 / 4)
    assert (q.reported_frauds, q.caught_frauds) == (4, 3)
    assert q.recall == pytest.approx(3 / 4)
    assert q.by_scenario == {
        "card_testing": {"frauds": 2, "caught": 2, "recall": 1.0},
        "stolen_card": {"frauds": 1, "caught": 1, "recall": 1.0},
        "unknown": {"frauds": 1, "caught": 0, "recall": 0.0},
    }


def test_card_precision_at_k_counts_the_days_top_k_cards_only(case) -> None:
    verdicts, alerts = case
    frauds = [v for v in verdicts if v.fraud]
    # day 1, k=2: top cards c1 (fraud), c2 (genuine) -> 1/2; day 2: c4 (fraud) of k=2 -> 1/2
    assert card_precision(frauds, {D1: ["c1", "c2", "c3"], D2: ["c4"]}, 2, alerts) == {
        D1: 0.5,
        D2: 0.5,
    }
    # k=3 on day 1: c1 and c3 -> 2/3
    assert card_precision(frauds, {D1: ["c1", "c2", "c3"]}, 3, alerts)[D1] == pytest.approx(2 / 3)


def test_detection_delay_runs_from_the_first_known_fraud(case) -> None:
    verdicts, alerts = case
    # the unalerted fraud of c1 happened at DAY (its time known from the label)
    verdicts[3] = Verdict("m1", "c1", True, 0, 0, 0, transaction_ms=DAY)
    q = model_quality(verdicts, alerts, {}, k=2, known=alerts)
    # c1: 3600 s; c3 and c4: caught at their first fraud, 0 s
    assert q.delay_cards == 3
    assert q.delay_median_s == 0.0
    assert q.delay_mean_s == pytest.approx(3600 / 3)


def test_a_model_that_alerted_nothing_has_no_precision_and_zero_recall(case) -> None:
    verdicts, alerts = case
    q = model_quality(verdicts, {}, {}, k=2, known=alerts)
    assert q.precision is None and q.reviewed_alerts == 0
    assert q.recall == 0.0 and q.delay_cards == 0


def test_verdicts_wait_for_their_transaction_then_expire() -> None:
    alerted = {"a": object()}
    verdicts = [
        verdict("a", "c", True, arrival=500),  # alerted: judged at once
        verdict("n", "c", False, arrival=100),  # scored past its arrival, not alerted
        verdict("w", "c", True, arrival=900),  # not scored yet: held
        verdict("x", "c", True, arrival=10),  # shard 1 scored nothing: expired
    ]
    verdicts[3] = verdict("x", "c", True, arrival=10, shard=1)
    judged, counts = split_held(verdicts, alerted, {0: 800}, now_ms=1000, hold_ms=500)
    assert [v.transaction_id for v in judged] == ["a", "n", "x"]
    assert (counts.total, counts.held, counts.expired, counts.not_alerted) == (4, 1, 1, 2)
    assert (counts.fraud, counts.genuine) == (2, 1)
