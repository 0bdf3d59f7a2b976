"""The event-time timeline: every card's genuine days, with fraud episodes merged in.

Each card holder lives day by day in their own local time: a Poisson number of purchases
(weekday rhythm), at hours drawn from their own daily profile, in categories drawn from their
own spending profile, mostly at their usual merchants near home; sometimes a new merchant, a
large genuine purchase, or a trip of a few days to another city. A fraud controller keeps the
share of fraudulent records at ``fraud_rate``: after a genuine purchase it may start an
episode of one scenario on that card. Everything is merged by event time with a heap, so the
output is in event-time order and the same config (seed) gives the same records.

>>> rows = list(generate_records(SimConfig(count=50, customers=20, merchants=150, seed=1)))
>>> len(rows), {r["is_fraud"] for r in rows} <= {0, 1}
(50, True)
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from faker import Faker

from rtad.generator.catalogue import CATEGORIES, MCC_INDEX, TRAVEL_MCCS, WEEKDAY_FACTOR
from rtad.generator.population import Customer, Population, build_population
from rtad.generator.records import Record, RecordFactory, local_midnight
from rtad.generator.scenarios import SCENARIOS

DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
_TRAVEL = [MCC_INDEX[m] for m in TRAVEL_MCCS]
_BIG_TICKET = [MCC_INDEX[m] for m in ("5732", "5311", "4511", "5944", "5691")]
_ALL = range(len(CATEGORIES))


@dataclass(frozen=True)
class SimConfig:
    """Everything that shapes the data; the same config gives the same records."""

    seed: int = 0
    count: int | None = 10_000
    customers: int = 500
    merchants: int = 1000
    fraud_rate: float = 0.01
    amount_scale: float = 1.0
    scenarios: Mapping[str, float] = field(default_factory=lambda: dict.fromkeys(SCENARIOS, 1.0))
    start: datetime = DEFAULT_START
    trip_rate: float = 1 / 45  # trips started per card per day
    big_purchase_rate: float = 0.004  # share of genuine purchases that are unusually large
    new_merchant_rate: float = 0.06  # share of in-person purchases at a merchant not usual

    def __post_init__(self) -> None:
        if not 0 <= self.fraud_rate < 1:
            raise ValueError("fraud_rate must be in [0, 1)")
        unknown = set(self.scenarios) - set(SCENARIOS)
        if unknown:
            raise ValueError(
                f"unknown scenario(s) {', '.join(sorted(unknown))}; known: {', '.join(SCENARIOS)}"
            )
        if self.fraud_rate > 0 and not any(w > 0 for w in self.scenarios.values()):
            raise ValueError("fraud_rate > 0 needs at least one scenario with a positive weight")
        if self.customers < 2 or self.merchants < 1:
            raise ValueError("need at least 2 customers and 1 merchant")
        if self.amount_scale <= 0:
            raise ValueError("amount_scale must be positive")


@dataclass
class _CardState:
    day: int = 0
    trip_city: int | None = None
    trip_until: int = -1


class Simulator:
    """Iterates the merged timeline; see the module docstring."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        faker = Faker()
        faker.seed_instance(config.seed)
        self.pop: Population = build_population(
            self.rng,
            faker,
            customers=config.customers,
            merchants=config.merchants,
            amount_scale=config.amount_scale,
        )
        self.factory = RecordFactory(self.pop, self.rng, config.seed)
        self.rnd = self.factory.rnd
        self.start_ts = config.start.timestamp()
        self.start_day: date = config.start.astimezone(UTC).date() - timedelta(days=1)
        self._heap: list[tuple[float, int, Any]] = []
        self._seq = itertools.count()
        self._cards = [_CardState() for _ in self.pop.customers]
        names = [n for n, w in config.scenarios.items() if w > 0]
        weights = np.array([config.scenarios[n] for n in names], dtype=float)
        self._scenario_names = names
        self._scenario_p = weights / weights.sum() if names else weights
        self._planned_by = dict.fromkeys(names, 0)
        self.genuine = 0
        self.fraud_planned = 0
        self._threshold = float(self.rng.uniform(0, 6))  # no fraud on the very first purchase

    # ------------------------------------------------------------------ timeline

    def __iter__(self) -> Iterator[Record]:
        for i in range(len(self.pop.customers)):
            self._push(self._day_start(i, 0), ("day", i))
        emitted = 0
        limit = self.config.count
        while self._heap and (limit is None or emitted < limit):
            ts, _seq, item = heapq.heappop(self._heap)
            if isinstance(item, tuple):
                self._plan_day(item[1], ts)
                continue
            if ts < self.start_ts:
                continue
            emitted += 1
            yield item
            if item["is_fraud"] == 0:
                self.genuine += 1
                self._maybe_start_fraud(ts, item)

    def _push(self, ts: float, item: Any) -> None:
        heapq.heappush(self._heap, (ts, next(self._seq), item))

    def _day_start(self, card: int, day: int) -> float:
        customer = self.pop.customers[card]
        return local_midnight(
            self.start_day + timedelta(days=day), self.pop.cities[customer.city].tz
        )

    # ------------------------------------------------------------------ genuine days

    def _plan_day(self, card: int, now: float) -> None:
        """Simulate one local day of one card, then schedule the next day."""
        state = self._cards[card]
        customer = self.pop.customers[card]
        arriving = self._update_trip(state, customer)
        city = state.trip_city if state.trip_city is not None else customer.city
        tz = self.pop.cities[city].tz
        day = self.start_day + timedelta(days=state.day)
        midnight = local_midnight(day, tz)
        travelling = state.trip_city is not None
        lam = customer.tx_per_day * WEEKDAY_FACTOR[day.weekday()] * (1.3 if travelling else 1.0)
        count = int(self.rng.poisson(lam))
        hours = self.rnd.choices(range(24), cum_weights=customer.hour_cum, k=count)
        for hour in hours:
            if arriving and hour < 12:
                hour = 12 + hour // 2  # the traveller lands around noon
            ts = midnight + hour * 3600 + self.rnd.random() * 3600
            if ts < now:  # a trip east of home: the local day began before the home day
                continue
            self._push(ts, self._purchase(ts, customer, city, travelling, tz))
        state.day += 1
        self._push(self._day_start(card, state.day), ("day", card))

    def _update_trip(self, state: _CardState, customer: Customer) -> bool:
        """End or start a trip; True on the day a trip starts."""
        if state.trip_city is not None and state.day > state.trip_until:
            state.trip_city = None
        if state.trip_city is None and self.rnd.random() < self.config.trip_rate:
            abroad = self.rnd.random() < 0.25
            pool = self.pop.abroad_cities() if abroad else self.pop.home_cities()
            choices = [c for c in pool if c != customer.city]
            state.trip_city = self.factory.pick(choices)
            state.trip_until = state.day + self.rnd.randint(1, 5)
            return True
        return False

    def _category(self, customer: Customer, travelling: bool) -> int:
        rnd = self.rnd
        if travelling and rnd.random() < 0.6:
            return _TRAVEL[rnd.randrange(len(_TRAVEL))]
        return rnd.choices(_ALL, cum_weights=customer.mcc_cum)[0]

    def _purchase(
        self, ts: float, customer: Customer, city: int, travelling: bool, tz: str
    ) -> Record:
        rnd = self.rnd
        cat_index = self._category(customer, travelling)
        cat = CATEGORIES[cat_index]
        sigma = cat.sigma * customer.sigma_scale
        amount = float(customer.medians[cat_index]) * rnd.lognormvariate(0, sigma)
        if rnd.random() < self.config.big_purchase_rate:
            cat_index = _BIG_TICKET[rnd.randrange(len(_BIG_TICKET))]
            cat = CATEGORIES[cat_index]
            amount = float(customer.medians[cat_index]) * rnd.uniform(4, 12)
        online = rnd.random() < min(1.0, cat.online * (0.4 + 2 * customer.online_share))
        if online and (shops := self.pop.online_by_mcc.get(cat.mcc)):
            merchant = self.pop.merchants[self._usual_online(customer, cat.mcc, shops)]
            where = self.factory.device_at(city) if travelling else None
            where = where or (customer.latitude, customer.longitude)
            return self.factory.record(ts, customer, merchant, amount, where=where, tz=tz)[1]
        merchant = self.pop.merchants[self._local_merchant(customer, cat.mcc, city, travelling)]
        if merchant.channel == "atm":
            amount = max(20.0, round(amount / 20) * 20)
        return self.factory.record(ts, customer, merchant, amount, tz=tz)[1]

    def _usual_online(self, customer: Customer, mcc: str, shops: list[int]) -> int:
        key = f"online:{mcc}"
        if key not in customer.usual or self.rnd.random() < self.config.new_merchant_rate:
            customer.usual.setdefault(key, []).append(self.factory.pick(shops))
        return self.factory.pick(customer.usual[key])

    def _local_merchant(self, customer: Customer, mcc: str, city: int, travelling: bool) -> int:
        usual = customer.usual.get(mcc)
        if not travelling and usual and self.rnd.random() >= self.config.new_merchant_rate:
            return self.factory.pick(usual)
        return self.factory.pick(self.pop.merchants_in(city, mcc))

    # ------------------------------------------------------------------ fraud

    def _maybe_start_fraud(self, ts: float, record: Record) -> None:
        """Keep fraud records at ``fraud_rate`` of all records, episode by episode."""
        rate = self.config.fraud_rate
        if rate <= 0:
            return
        target = rate / (1 - rate) * self.genuine
        if self.fraud_planned + self._threshold > target:
            return
        name = self._next_scenario()
        card = int(record["user_id"][1:])
        seen = (record["latitude"], record["longitude"])
        episode = SCENARIOS[name].build(self.factory, self.pop.customers[card], ts, seen)
        for event_ts, fraud in episode:
            self._push(event_ts, fraud)
        self.fraud_planned += len(episode)
        self._planned_by[name] += len(episode)
        # A random head start between episodes, so that they do not come at a fixed beat.
        self._threshold = float(self.rng.uniform(-6, 6))

    def _next_scenario(self) -> str:
        """The scenario furthest behind its share of fraud *records* (weights are shares)."""
        total = self.fraud_planned + 10
        behind = np.array(
            [
                p * total - self._planned_by[n]
                for n, p in zip(self._scenario_names, self._scenario_p, strict=True)
            ]
        )
        chances = np.clip(behind, 0, None) + 0.05 * self._scenario_p
        return self._scenario_names[int(self.rng.choice(len(chances), p=chances / chances.sum()))]


def generate_records(config: SimConfig) -> Iterator[Record]:
    """The records of ``config`` in event-time order, lazily (memory grows with cards only)."""
    return iter(Simulator(config))


def generate_frame(config: SimConfig) -> Any:
    """The records as a pandas DataFrame (``timestamp`` parsed to UTC datetimes)."""
    import pandas as pd

    frame = pd.DataFrame.from_records(list(generate_records(config)))
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    return frame
