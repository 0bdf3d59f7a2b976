"""Named fraud scenarios: how a compromised card, account or merchant shows up in the data.

Each scenario builds one *episode*: a short run of fraudulent records (``is_fraud=1``,
``fraud_scenario=<name>``) starting minutes after ``now``, for a victim card whose genuine
purchase at ``now`` (at ``seen``) has just been simulated. The moment a card was compromised
is not observable, so episodes start soon after the trigger (a long wait would only make
a short run lose the episodes still pending when it ends). The simulator merges episodes
into the event-time timeline.
Fraudsters are not all far away: card-not-present fraud often comes from the victim's own
country, so only the scenarios whose nature is distance (impossible travel, ATM cash-out)
always are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rtad.generator.catalogue import MCC_INDEX
from rtad.generator.geo import distance_km
from rtad.generator.population import City, Customer
from rtad.generator.records import Record, RecordFactory, next_local_time

Episode = list[tuple[float, Record]]
Point = tuple[float, float]  # (latitude, longitude)
MINUTE = 60.0
HOUR = 3600.0


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    build: Callable[[RecordFactory, Customer, float, Point], Episode]
    victims: int = 1  # cards hit by one episode (many for a compromised merchant)


def _median(victim: Customer) -> float:
    """The card's typical purchase (weighted median over its categories)."""
    order = np.argsort(victim.medians)
    cum = np.cumsum(victim.mcc_weights[order])
    return float(victim.medians[order][np.searchsorted(cum, 0.5)])


def _far_cities(f: RecordFactory, victim: Customer, seen: Point) -> list[int]:
    """Cities abroad more than 2000 km from the card's home and from where it was just used."""
    pop, home = f.pop, f.pop.cities[victim.city]
    abroad = pop.abroad_cities()
    far_away = [
        c
        for c in abroad
        if min(
            distance_km(home.latitude, home.longitude, *_where(pop.cities[c])),
            distance_km(*seen, *_where(pop.cities[c])),
        )
        > 2000
    ]
    return far_away or abroad


def _where(city: City) -> Point:
    return city.latitude, city.longitude


def _fraud_city(f: RecordFactory, victim: Customer) -> int:
    """Where a card-not-present fraudster is: abroad, elsewhere in the country, or next door."""
    draw = f.rng.random()
    if draw < 0.4:
        return f.pick(f.pop.abroad_cities())
    if draw < 0.8:
        others = [c for c in f.pop.home_cities() if c != victim.city]
        return f.pick(others or [victim.city])
    return victim.city


def card_testing(f: RecordFactory, victim: Customer, now: float, seen: Point) -> Episode:
    """A burst of tiny online charges checks the stolen card works, then a large purchase."""
    city = _fraud_city(f, victim)
    device = f.device_at(city)
    tz = f.pop.cities[city].tz
    testers = [f.pick(f.pop.online("5816")), f.pick(f.pop.online("5999"))]
    ts = now + f.rng.uniform(2, 60) * MINUTE
    out: Episode = []
    for _ in range(int(f.rng.integers(3, 11))):
        ts += f.rng.uniform(4, 75)
        amount = float(f.rng.choice([0.5, 1.0, 1.0, 1.99, 2.0])) if f.rng.random() < 0.6 else 0.0
        amount = amount or float(f.rng.uniform(0.3, 3.0))
        merchant = f.pop.merchants[testers[int(f.rng.integers(2))]]
        out.append(
            f.record(ts, victim, merchant, amount, where=device, tz=tz, scenario="card_testing")
        )
    for _ in range(int(f.rng.integers(1, 3))):
        ts += f.rng.uniform(2, 50) * MINUTE
        merchant = f.pop.merchants[f.pick(f.pop.online(str(f.rng.choice(["5732", "5944"]))))]
        amount = max(250.0, _median(victim) * f.rng.uniform(8, 30))
        out.append(
            f.record(ts, victim, merchant, amount, where=device, tz=tz, scenario="card_testing")
        )
    return out


def account_takeover(f: RecordFactory, victim: Customer, now: float, seen: Point) -> Episode:
    """Stolen online-banking credentials: a new device buys resellable goods at new shops."""
    city = _fraud_city(f, victim)
    device = f.device_at(city)
    tz = f.pop.cities[city].tz
    ts = now + f.rng.uniform(5, 90) * MINUTE
    out: Episode = []
    for _ in range(int(f.rng.integers(3, 8))):
        ts += f.rng.uniform(3, 55) * MINUTE
        mcc = str(f.rng.choice(["5732", "5944", "5999", "4511", "5691"]))
        merchant = f.pop.merchants[f.pick(f.pop.online(mcc))]
        typical = victim.medians[MCC_INDEX[merchant.mcc]]
        amount = typical * f.rng.uniform(1.5, 5)
        out.append(
            f.record(ts, victim, merchant, amount, where=device, tz=tz, scenario="account_takeover")
        )
    return out


def impossible_travel(f: RecordFactory, victim: Customer, now: float, seen: Point) -> Episode:
    """A cloned card is used thousands of km away minutes after a genuine purchase."""
    city = f.pick(_far_cities(f, victim, seen))
    ts = now + f.rng.uniform(3, 45) * MINUTE
    out: Episode = []
    for _ in range(int(f.rng.integers(1, 4))):
        mcc = str(f.rng.choice(["5732", "5311", "5944", "5812", "5411"]))
        merchant = f.pop.merchants[f.pick(f.pop.merchants_in(city, mcc))]
        amount = victim.medians[MCC_INDEX[merchant.mcc]] * f.rng.uniform(1, 4)
        out.append(f.record(ts, victim, merchant, amount, scenario="impossible_travel"))
        ts += f.rng.uniform(5, 90) * MINUTE
    return out


def amount_spike(f: RecordFactory, victim: Customer, now: float, seen: Point) -> Episode:
    """A skimmed card used near home for purchases many times the card's usual amounts."""
    ts = now + f.rng.uniform(10, 120) * MINUTE
    out: Episode = []
    for _ in range(int(f.rng.integers(1, 4))):
        mcc = str(f.rng.choice(["5732", "5944", "5311", "5691"]))
        merchant = f.pop.merchants[f.pick(f.pop.merchants_in(victim.city, mcc))]
        amount = victim.medians[MCC_INDEX[merchant.mcc]] * f.rng.uniform(6, 25)
        out.append(f.record(ts, victim, merchant, amount, scenario="amount_spike"))
        ts += f.rng.uniform(10, 120) * MINUTE
    return out


def compromised_merchant(f: RecordFactory, victim: Customer, now: float, seen: Point) -> Episode:
    """A breached merchant charges a similar amount to many cards within minutes."""
    merchant = f.pop.merchants[f.pick(f.pop.online(str(f.rng.choice(["5999", "5816", "4899"]))))]
    price = float(f.rng.choice([19.99, 29.99, 49.0, 79.9, 99.0, 149.0]))
    cards = int(f.rng.integers(8, 30))
    victims = [victim] + [
        f.pop.customers[int(i)] for i in f.rng.choice(len(f.pop.customers), size=cards - 1)
    ]
    ts = now + f.rng.uniform(5, 60) * MINUTE
    window = f.rng.uniform(5, 40) * MINUTE
    times = np.sort(ts + f.rng.uniform(0, window, size=len(victims)))
    return [
        f.record(
            float(t),
            card,
            merchant,
            price * f.rng.uniform(0.97, 1.03),
            scenario="compromised_merchant",
        )
        for t, card in zip(times, victims, strict=True)
    ]


def atm_cashout(f: RecordFactory, victim: Customer, now: float, seen: Point) -> Episode:
    """Night-time ATM withdrawals in a burst, far from home, near the card's limit."""
    # The gang works where it is night soon: the next local night in each candidate city.
    hour = f.rng.uniform(0.3, 3.5)
    candidates = _far_cities(f, victim, seen)
    starts = {c: next_local_time(now, f.pop.cities[c].tz, hour) for c in candidates}
    soon = [c for c, t in starts.items() if t - now < 4 * HOUR] or list(starts)
    city = f.pick(sorted(soon))
    atms = [m for m in f.pop.merchants_in(city, "6011") if f.pop.merchants[m].channel == "atm"]
    ts = starts[city]
    out: Episode = []
    for _ in range(int(f.rng.integers(4, 11))):
        merchant = f.pop.merchants[f.pick(atms or f.pop.merchants_in(city, "6011"))]
        limit = float(f.rng.choice([200, 250, 300, 400, 500]))
        amount = round(limit * max(1.0, victim.medians[MCC_INDEX["6011"]] / 100) / 20) * 20.0
        out.append(f.record(ts, victim, merchant, amount, scenario="atm_cashout"))
        ts += f.rng.uniform(1, 12) * MINUTE
    return out


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("card_testing", "tiny online charges, then a large one", card_testing),
        Scenario("account_takeover", "new device buys at new online shops", account_takeover),
        Scenario(
            "impossible_travel", "far away minutes after a genuine purchase", impossible_travel
        ),
        Scenario("amount_spike", "purchases many times the usual amount", amount_spike),
        Scenario(
            "compromised_merchant", "one merchant charges many cards", compromised_merchant, 18
        ),
        Scenario("atm_cashout", "night-time ATM burst far from home", atm_cashout),
    )
}
