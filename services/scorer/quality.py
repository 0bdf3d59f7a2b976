"""Alert quality from verdicts: the figures, computed from what was alerted and what was judged.

Pure: no Redis, no clock. The inputs are the latest verdict of each judged transaction
(:class:`Verdict`) and, per model, the alert record of the judged transactions it alerted
(:class:`AlertRecord`) with the k cards it alerted most strongly each day. The figures follow
the Fraud Detection Handbook's feedback setting, where only what was reviewed or reported
ever gets a label:

- **alert precision**: of the model's alerts that got a verdict, the share that were fraud;
- **Card Precision@k** per day (event-time UTC day): of the k cards with the day's highest
  alert scores, the share with a fraud verdict on one of that day's transactions (the
  denominator is k even on a day with fewer alerted cards, as in the Handbook);
- **recall on reported frauds**: of the transactions with a fraud verdict (analyst or
  chargeback), the share the model alerted; per fraud scenario when the scenario is known
  (carried by an alert of either model);
- **detection delay**: per card, the time from its first known fraud to the first of its
  frauds the model alerted (event time).

A verdict whose transaction no model alerted and whose shard has not yet scored past the
verdict's arrival is *held*: left out until the transaction is scored, or until the hold
expires (then it counts as not alerted, and as expired).

>>> v = [Verdict("t1", "c1", True, 0, 0, 0), Verdict("t2", "c2", False, 0, 0, 0)]
>>> a = {"t1": AlertRecord(86_400_000, "c1", 0.9, "card_testing"),
...      "t2": AlertRecord(86_400_000, "c2", 0.8, None)}
>>> q = model_quality(v, a, {"1970-01-02": ["c1", "c2"]}, k=2, known=a)
>>> q.precision, q.recall, q.card_precision["1970-01-02"]
(0.5, 1.0, 0.5)
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

UNKNOWN_SCENARIO = "unknown"


@dataclass(frozen=True)
class Verdict:
    """The latest verdict on one transaction, with when it arrived and its shard."""

    transaction_id: str
    card: str
    fraud: bool
    given_ms: int
    arrival_ms: int
    shard: int
    source: str = "analyst"
    transaction_ms: int | None = None  # the transaction's event time, when the label said it


@dataclass(frozen=True)
class AlertRecord:
    """What the quality index kept of one alert of one model."""

    event_ms: int
    card: str
    score: float
    scenario: str | None = None

    @property
    def day(self) -> str:
        return day_of(self.event_ms)


def day_of(epoch_ms: int) -> str:
    """The UTC day of an epoch time in milliseconds, ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).date().isoformat()


@dataclass
class ModelQuality:
    """One model's figures; ``None`` where nothing was judged yet."""

    precision: float | None = None
    reviewed_alerts: int = 0
    fraud_alerts: int = 0
    recall: float | None = None
    reported_frauds: int = 0
    caught_frauds: int = 0
    card_precision: dict[str, float] = field(default_factory=dict)
    card_precision_mean: float | None = None
    by_scenario: dict[str, dict[str, Any]] = field(default_factory=dict)
    delay_cards: int = 0
    delay_median_s: float | None = None
    delay_mean_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class VerdictCounts:
    """What became of the verdicts: judged, held for their score, expired, not alerted."""

    total: int = 0
    fraud: int = 0
    genuine: int = 0
    held: int = 0
    expired: int = 0
    not_alerted: int = 0


def split_held(
    verdicts: Sequence[Verdict],
    alerted: Mapping[str, Any],
    watermarks: Mapping[int, int],
    now_ms: int,
    hold_ms: int,
) -> tuple[list[Verdict], VerdictCounts]:
    """The verdicts to judge on (held ones left out) and the counts of each kind.

    A verdict is held while no model alerted its transaction and its shard's scored
    watermark (ingest time of the latest scored entry) is before the verdict's arrival.
    """
    judged: list[Verdict] = []
    counts = VerdictCounts(total=len(verdicts))
    for v in verdicts:
        if v.transaction_id not in alerted and watermarks.get(v.shard, -1) < v.arrival_ms:
            if now_ms - v.arrival_ms < hold_ms:
                counts.held += 1
                continue
            counts.expired += 1
        judged.append(v)
        counts.fraud += v.fraud
        counts.genuine += not v.fraud
        counts.not_alerted += v.transaction_id not in alerted
    return judged, counts


def model_quality(
    verdicts: Sequence[Verdict],
    alerts: Mapping[str, AlertRecord],
    top_cards: Mapping[str, Sequence[str]],
    k: int,
    known: Mapping[str, AlertRecord],
) -> ModelQuality:
    """The figures of one model: ``alerts`` are its alerts among the judged transactions,
    ``top_cards`` its k most suspicious cards per day, ``known`` the alerts of any model
    (they tell the event time and scenario of a transaction)."""
    q = ModelQuality()
    frauds = [v for v in verdicts if v.fraud]
    reviewed = [v for v in verdicts if v.transaction_id in alerts]
    q.reviewed_alerts = len(reviewed)
    q.fraud_alerts = sum(v.fraud for v in reviewed)
    q.precision = _share(q.fraud_alerts, q.reviewed_alerts)
    q.reported_frauds = len(frauds)
    q.caught_frauds = sum(v.transaction_id in alerts for v in frauds)
    q.recall = _share(q.caught_frauds, q.reported_frauds)
    q.by_scenario = _by_scenario(frauds, alerts, known)
    q.card_precision = card_precision(frauds, top_cards, k, known)
    judged_days = {_day(v, known) for v in verdicts} - {None}
    reviewed_days = [cp for day, cp in q.card_precision.items() if day in judged_days]
    q.card_precision_mean = statistics.fmean(reviewed_days) if reviewed_days else None
    delays = detection_delays_s(frauds, alerts, known)
    q.delay_cards = len(delays)
    q.delay_median_s = statistics.median(delays) if delays else None
    q.delay_mean_s = statistics.fmean(delays) if delays else None
    return q


def card_precision(
    frauds: Sequence[Verdict],
    top_cards: Mapping[str, Sequence[str]],
    k: int,
    known: Mapping[str, AlertRecord],
) -> dict[str, float]:
    """CP@k of each day: the share of the day's top-k cards with a fraud that day."""
    compromised: dict[str, set[str]] = {}
    for v in frauds:
        day = _day(v, known)
        if day is not None:
            compromised.setdefault(day, set()).add(v.card)
    return {
        day: len(set(cards[:k]) & compromised.get(day, set())) / k
        for day, cards in sorted(top_cards.items())
    }


def detection_delays_s(
    frauds: Sequence[Verdict], alerts: Mapping[str, AlertRecord], known: Mapping[str, AlertRecord]
) -> list[float]:
    """Per card the model caught: seconds from its first known fraud to its first alerted one."""
    first_fraud: dict[str, int] = {}
    first_caught: dict[str, int] = {}
    for v in frauds:
        when = _event_ms(v, known)
        if when is None:
            continue
        first_fraud[v.card] = min(when, first_fraud.get(v.card, when))
        if v.transaction_id in alerts:
            first_caught[v.card] = min(when, first_caught.get(v.card, when))
    return [(t - first_fraud[card]) / 1000 for card, t in sorted(first_caught.items())]


def _by_scenario(
    frauds: Sequence[Verdict], alerts: Mapping[str, AlertRecord], known: Mapping[str, AlertRecord]
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for v in frauds:
        record = known.get(v.transaction_id)
        name = (record.scenario if record else None) or UNKNOWN_SCENARIO
        row = out.setdefault(name, {"frauds": 0, "caught": 0})
        row["frauds"] += 1
        row["caught"] += v.transaction_id in alerts
    for row in out.values():
        row["recall"] = _share(row["caught"], row["frauds"])
    return dict(sorted(out.items()))


def _event_ms(v: Verdict, known: Mapping[str, AlertRecord]) -> int | None:
    record = known.get(v.transaction_id)
    return record.event_ms if record is not None else v.transaction_ms


def _day(v: Verdict, known: Mapping[str, AlertRecord]) -> str | None:
    when = _event_ms(v, known)
    return day_of(when) if when is not None else None


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None
