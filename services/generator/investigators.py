"""Simulated investigators: the alerts they review, their verdicts, and the chargebacks.

Each day of event time (UTC) the investigators review the day's highest-scored alerts, up to
their capacity, and give a verdict (the generator's ground truth) ``analyst_delay`` after the
alerted transaction; a fraud nobody reviewed comes back as a chargeback ``chargeback_delay``
after it happened, as in the Fraud Detection Handbook's feedback model. Everything follows
an event-time clock that the caller advances, so accelerated or replayed time works alike.

Pure (no Redis, no wall clock). Memory is bounded by what is still to come back: the frauds
of the last ``chargeback_delay``, at most ``capacity`` alerts per open day, and the verdicts
not yet due; a genuine transaction is never remembered (an alert on an unknown id is genuine).
The clock is the scorer's progress: while nothing scores, it stands still, so the frauds
waiting for their chargeback are capped (``max_frauds``); beyond the cap the oldest one is
forgotten (counted in ``DeskCounts.forgotten``) and never comes back.

>>> from datetime import datetime, UTC
>>> desk = Investigators(InvestigatorConfig(capacity=1))
>>> t0 = datetime(2026, 1, 5, 10, tzinfo=UTC)
>>> desk.observe("t1", "u1", True, t0)
>>> desk.alert("t1", "u1", 0.9, t0)
>>> desk.advance(datetime(2026, 1, 6, 10, tzinfo=UTC))[0].verdict
'fraud'
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from rtad.common.labels import Label

DAY = timedelta(days=1)


@dataclass(frozen=True)
class InvestigatorConfig:
    """Capacity (alerts reviewed a day) and the two feedback delays, in event time."""

    capacity: int = 100
    analyst_delay: timedelta = DAY
    chargeback_delay: timedelta = 7 * DAY
    #: frauds remembered until their verdict or chargeback (a week of 1 % fraud at 300 tx/s)
    max_frauds: int = 2_000_000

    def __post_init__(self) -> None:
        if self.capacity < 0:
            raise ValueError("investigator capacity must be >= 0 alerts a day")
        if self.max_frauds < 1:
            raise ValueError("investigators must remember at least 1 fraud")
        if self.analyst_delay < timedelta(0) or self.chargeback_delay < timedelta(0):
            raise ValueError("investigator delays must be >= 0")


@dataclass(order=True)
class _Alert:
    score: float
    transaction_id: str
    user_id: str = field(compare=False)
    event_time: datetime = field(compare=False)


@dataclass
class DeskCounts:
    """What the desk has seen and done so far."""

    alerts: int = 0
    late_alerts: int = 0  # alerts of a day already reviewed (the pipeline ran behind)
    reviewed: int = 0
    chargebacks: int = 0
    forgotten: int = 0  # frauds dropped beyond max_frauds (nothing scored for that long)


class Investigators:
    """The review desk; see the module docstring."""

    def __init__(self, config: InvestigatorConfig | None = None) -> None:
        self.config = config or InvestigatorConfig()
        self.counts = DeskCounts()
        self._frauds: dict[str, tuple[str, datetime]] = {}  # not yet reviewed nor charged back
        self._fraud_order: deque[str] = deque()  # fraud ids in event-time order
        self._days: dict[date, list[_Alert]] = {}  # min-heaps of each open day's top alerts
        self._day_ids: dict[date, set[str]] = {}
        self._closed_before: date | None = None  # days before this one are reviewed
        self._due: list[tuple[datetime, int, Label]] = []  # verdicts given, not yet out
        self._seq = itertools.count()

    def observe(self, transaction_id: str, user_id: str, is_fraud: bool, when: datetime) -> None:
        """A generated transaction (in event-time order); only frauds are remembered."""
        if is_fraud:
            self._frauds[transaction_id] = (user_id, when)
            self._fraud_order.append(transaction_id)
            while len(self._frauds) > self.config.max_frauds:
                oldest = self._fraud_order.popleft()
                if self._frauds.pop(oldest, None) is not None:
                    self.counts.forgotten += 1

    def alert(self, transaction_id: str, user_id: str, score: float, when: datetime) -> None:
        """An alert of the scorer; kept if among its day's top ``capacity`` so far."""
        day = when.astimezone(UTC).date()
        if self._closed_before is not None and day < self._closed_before:
            self.counts.late_alerts += 1
            return
        ids = self._day_ids.setdefault(day, set())
        if transaction_id in ids:
            return  # the same alert written twice counts once
        self.counts.alerts += 1
        ids.add(transaction_id)
        heap = self._days.setdefault(day, [])
        heapq.heappush(heap, _Alert(score, transaction_id, user_id, when))
        if len(heap) > self.config.capacity:
            ids.discard(heapq.heappop(heap).transaction_id)

    def advance(self, clock: datetime) -> list[Label]:
        """Move the event-time clock to ``clock``; the verdicts and chargebacks now due."""
        for day in sorted(d for d in self._days if _end_of(d) <= clock):
            self._review(day)
        self._charge_back(clock)
        out = []
        while self._due and self._due[0][0] <= clock:
            out.append(heapq.heappop(self._due)[2])
        return out

    def _review(self, day: date) -> None:
        """Close ``day``: its top alerts get their verdicts, due after the analyst delay."""
        day_end = _end_of(day)
        for alert in self._days.pop(day):
            known = self._frauds.pop(alert.transaction_id, None)
            verdict = "fraud" if known is not None else "genuine"
            given = max(alert.event_time + self.config.analyst_delay, day_end)
            self._give(alert.transaction_id, alert.user_id, verdict, "simulated", given)
            self.counts.reviewed += 1
        del self._day_ids[day]
        following = day + DAY
        if self._closed_before is None or following > self._closed_before:
            self._closed_before = following

    def _charge_back(self, clock: datetime) -> None:
        """Frauds nobody reviewed come back ``chargeback_delay`` after they happened."""
        delay = self.config.chargeback_delay
        while self._fraud_order:
            tx_id = self._fraud_order[0]
            known = self._frauds.get(tx_id)
            if known is None:  # reviewed: its verdict is out already
                self._fraud_order.popleft()
                continue
            user_id, when = known
            if when + delay > clock:
                return
            self._fraud_order.popleft()
            del self._frauds[tx_id]
            self._give(tx_id, user_id, "fraud", "chargeback", when + delay)
            self.counts.chargebacks += 1

    def _give(self, tx_id: str, user_id: str, verdict: str, source: str, when: datetime) -> None:
        label = Label(
            transaction_id=tx_id,
            user_id=user_id,
            verdict=verdict,  # type: ignore[arg-type]
            source=source,  # type: ignore[arg-type]
            given_at=when.astimezone(UTC),
        )
        heapq.heappush(self._due, (label.given_at or when, next(self._seq), label))

    @property
    def remembered(self) -> int:
        """Transactions and alerts held in memory (bounded; see the module docstring)."""
        return len(self._frauds) + sum(map(len, self._days.values())) + len(self._due)


def _end_of(day: date) -> datetime:
    return datetime.combine(day + DAY, time(0), tzinfo=UTC)
