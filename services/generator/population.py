"""Who buys and where: cities, merchants and card holders with their own spending habits.

The issuer is a European bank: its cards live in a handful of European countries and are billed
in EUR (GBP for British cards). Merchants sit in those home cities, a few in cities around the
world (holiday destinations, and where fraud comes from), and some are online shops.
Cities come from Faker's offline ``land_coords`` table (name, country, lat/lon, time zone):
nothing is downloaded.

>>> import numpy as np
>>> from faker import Faker
>>> pop = build_population(np.random.default_rng(1), Faker(), customers=20, merchants=120)
>>> len(pop.customers), len(pop.merchants) >= 120
(20, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import accumulate

import numpy as np
from faker import Faker
from faker.providers.geo import Provider as GeoProvider

from rtad.generator.catalogue import (
    ABROAD_COUNTRIES,
    BASE_HOURS,
    BILLING_CURRENCY,
    CATEGORIES,
    HOME_COUNTRIES,
    LOCAL_CURRENCY,
    MCC_INDEX,
    TRAVEL_MCCS,
    Category,
)
from rtad.generator.geo import jitter


@dataclass(frozen=True, slots=True)
class City:
    """A city of Faker's offline table; ``home`` when the issuer's cards live there."""

    name: str
    country: str
    latitude: float
    longitude: float
    tz: str
    home: bool


@dataclass(frozen=True, slots=True)
class Merchant:
    """A merchant: where it is, what it sells (MCC), how it takes cards (channel)."""

    merchant_id: str
    name: str
    mcc: str
    city: int  # index in Population.cities (the head office for online shops)
    latitude: float
    longitude: float
    channel: str  # pos / online / atm
    country: str
    currency: str


@dataclass(slots=True)
class Customer:
    """One card holder: where they live and how they spend."""

    user_id: str
    city: int
    latitude: float
    longitude: float
    currency: str
    tx_per_day: float
    mcc_weights: np.ndarray  # probability of each CATEGORIES entry
    medians: np.ndarray  # typical amount per category, in the billing currency
    sigma_scale: float
    hour_weights: np.ndarray  # 24 probabilities, local time
    online_share: float
    usual: dict[str, list[int]] = field(default_factory=dict)  # mcc -> merchant indices
    mcc_cum: list[float] = field(default_factory=list)  # cumulative weights, for fast draws
    hour_cum: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.mcc_cum = list(accumulate(self.mcc_weights.tolist()))
        self.hour_cum = list(accumulate(self.hour_weights.tolist()))


@dataclass
class Population:
    """Everyone in the simulation, with the indexes purchases need (merchants by city, MCC)."""

    cities: list[City]
    merchants: list[Merchant]
    customers: list[Customer]
    by_city_mcc: dict[tuple[int, str], list[int]]
    online_by_mcc: dict[str, list[int]]
    by_city: dict[int, list[int]]
    _shops: dict[int, list[int]] = field(default_factory=dict)  # city -> in-person shops
    _home: list[int] = field(default_factory=list)

    def home_cities(self) -> list[int]:
        if not self._home:
            self._home = [i for i, c in enumerate(self.cities) if c.home]
        return self._home

    def abroad_cities(self) -> list[int]:
        return [i for i, c in enumerate(self.cities) if not c.home and self.by_city.get(i)]

    def merchants_in(self, city: int, mcc: str) -> list[int]:
        """Physical merchants of ``mcc`` in ``city``; else the city's shops (or its ATMs)."""
        exact = self.by_city_mcc.get((city, mcc))
        if exact:
            return exact
        everything = self.by_city.get(city, [])
        shops = self._shops.get(city)
        if shops is None:
            shops = self._shops[city] = [
                m for m in everything if self.merchants[m].channel == "pos"
            ]
        return shops if mcc != "6011" and shops else everything

    def online(self, mcc: str) -> list[int]:
        return self.online_by_mcc.get(mcc) or self.online_by_mcc["5999"]


def _pick_cities(rng: np.random.Generator, customers: int) -> list[City]:
    table = GeoProvider.land_coords
    per_country = max(2, min(12, customers // 60))
    cities: list[City] = []
    for country in HOME_COUNTRIES:
        rows = [r for r in table if r[3] == country]
        take = min(len(rows), max(1, round(per_country * HOME_COUNTRIES[country] / 0.12)))
        for i in rng.choice(len(rows), size=take, replace=False):
            name, cc, tz = rows[i][2], rows[i][3], rows[i][4]
            cities.append(City(name, cc, float(rows[i][0]), float(rows[i][1]), tz, home=True))
    for country in ABROAD_COUNTRIES:
        rows = [r for r in table if r[3] == country]
        r = rows[int(rng.integers(len(rows)))]
        cities.append(City(r[2], r[3], float(r[0]), float(r[1]), r[4], home=False))
    return cities


def _new_merchant(
    rng: np.random.Generator, faker: Faker, idx: int, cities: list[City], city: int, cat: Category
) -> Merchant:
    c = cities[city]
    channel = "atm" if cat.atm else ("online" if rng.random() < cat.online else "pos")
    lat, lon = jitter(rng.normal, c.latitude, c.longitude, 4.0)
    name = f"{faker.company()} ATM" if cat.atm else faker.company()
    currency = LOCAL_CURRENCY.get(c.country, "EUR")
    return Merchant(f"m{idx:06d}", name, cat.mcc, city, lat, lon, channel, c.country, currency)


def _build_merchants(
    rng: np.random.Generator, faker: Faker, cities: list[City], count: int
) -> list[Merchant]:
    home = [i for i, c in enumerate(cities) if c.home]
    abroad = [i for i, c in enumerate(cities) if not c.home]
    weights = np.array([c.weight for c in CATEGORIES])
    merchants: list[Merchant] = []
    # Every city first gets one merchant of each travel category, so that trips and fraud
    # always find a hotel, a restaurant and an ATM there; the rest follows the weights.
    for city in home + abroad:
        for mcc in TRAVEL_MCCS:
            cat = CATEGORIES[MCC_INDEX[mcc]]
            merchants.append(_new_merchant(rng, faker, len(merchants), cities, city, cat))
    while len(merchants) < count:
        pool = home if rng.random() < 0.9 else abroad
        city = pool[int(rng.integers(len(pool)))]
        cat = CATEGORIES[int(rng.choice(len(CATEGORIES), p=weights / weights.sum()))]
        merchants.append(_new_merchant(rng, faker, len(merchants), cities, city, cat))
    # Online shops of the categories that card fraud likes must exist.
    for mcc in ("5816", "5999", "5732", "5944", "4511"):
        cat = CATEGORIES[MCC_INDEX[mcc]]
        if not any(m.mcc == mcc and m.channel == "online" for m in merchants):
            m = _new_merchant(rng, faker, len(merchants), cities, home[0], cat)
            merchants.append(_as_online(m))
    return merchants


def _as_online(m: Merchant) -> Merchant:
    return Merchant(
        m.merchant_id, m.name, m.mcc, m.city, m.latitude, m.longitude, "online", m.country, "EUR"
    )


def _hour_weights(rng: np.random.Generator, n: int) -> np.ndarray:
    """Each card's daily rhythm: the base profile shifted by its chronotype, with some noise."""
    shift = np.rint(rng.normal(0, 1.2, n)).astype(int)
    hours = BASE_HOURS[(np.arange(24)[None, :] - shift[:, None]) % 24]
    hours = hours * rng.lognormal(0, 0.25, (n, 24))
    owls = rng.random(n) < 0.06  # night owls and night-shift workers
    night = np.array([22, 23, 0, 1, 2, 3])
    hours[np.ix_(owls, night)] *= rng.uniform(3, 8, int(owls.sum()))[:, None]
    return hours / hours.sum(axis=1, keepdims=True)


_BASE_WEIGHTS = np.array([cat.weight for cat in CATEGORIES])
_BASE_MEDIANS = np.array([cat.median for cat in CATEGORIES])


def _build_customers(
    rng: np.random.Generator, n: int, pop: Population, amount_scale: float
) -> list[Customer]:
    """``n`` card holders, their habits drawn for all at once (numpy, vectorised)."""
    home = pop.home_cities()
    shares = np.array([HOME_COUNTRIES[pop.cities[c].country] for c in home])
    cities = np.array(home)[rng.choice(len(home), size=n, p=shares / shares.sum())]
    weights = rng.dirichlet(_BASE_WEIGHTS * 40, size=n)
    wealth = rng.lognormal(0, 0.45, n)[:, None]
    medians = _BASE_MEDIANS * wealth * amount_scale * rng.lognormal(0, 0.25, (n, len(CATEGORIES)))
    per_day = np.clip(rng.lognormal(math.log(2.6), 0.5, n), 0.4, 12)
    sigma_scale = rng.uniform(0.7, 1.2, n)
    online = rng.beta(2, 5, n)
    hours = _hour_weights(rng, n)
    offsets = rng.normal(0, 5.0 / 111.0, (n, 2))  # homes spread ~5 km around the city centre
    # 1-3 usual merchants per category near home: three uniform draws per (card, category),
    # the first k of them (duplicates collapse: a card may have fewer usual shops).
    picks = rng.random((n, len(CATEGORIES), 3)).tolist()  # Python floats: ~10x faster below
    kinds = rng.integers(1, 4, (n, len(CATEGORIES))).tolist()
    pools = {c: [pop.merchants_in(c, cat.mcc) for cat in CATEGORIES] for c in set(cities.tolist())}
    customers = []
    for i in range(n):
        c = pop.cities[int(cities[i])]
        lon_scale = max(0.2, math.cos(math.radians(c.latitude)))
        customer = Customer(
            user_id=f"c{i:07d}",
            city=int(cities[i]),
            latitude=round(min(89.9, max(-89.9, c.latitude + offsets[i, 0])), 5),
            longitude=round(((c.longitude + offsets[i, 1] / lon_scale + 180) % 360) - 180, 5),
            currency=BILLING_CURRENCY.get(c.country, "EUR"),
            tx_per_day=float(per_day[i]),
            mcc_weights=weights[i],
            medians=medians[i],
            sigma_scale=float(sigma_scale[i]),
            hour_weights=hours[i],
            online_share=float(online[i]),
        )
        _choose_usual(customer, pools[customer.city], picks[i], kinds[i])
        customers.append(customer)
    return customers


def _choose_usual(
    customer: Customer, pools: list[list[int]], picks: list[list[float]], kinds: list[int]
) -> None:
    """The card's usual merchants: the first ``kinds[j]`` uniform ``picks[j]`` per category."""
    for j, cat in enumerate(CATEGORIES):
        nearby = pools[j]
        if nearby:
            chosen = {int(r * len(nearby)) for r in picks[j][: kinds[j]]}
            customer.usual[cat.mcc] = [nearby[x] for x in sorted(chosen)]


def build_population(
    rng: np.random.Generator,
    faker: Faker,
    *,
    customers: int = 500,
    merchants: int = 1000,
    amount_scale: float = 1.0,
) -> Population:
    """Cities, merchants and card holders, all drawn from ``rng`` (same seed, same people)."""
    cities = _pick_cities(rng, customers)
    shops = _build_merchants(rng, faker, cities, merchants)
    by_city_mcc: dict[tuple[int, str], list[int]] = {}
    online_by_mcc: dict[str, list[int]] = {}
    by_city: dict[int, list[int]] = {}
    for i, m in enumerate(shops):
        if m.channel == "online":
            online_by_mcc.setdefault(m.mcc, []).append(i)
        else:
            by_city_mcc.setdefault((m.city, m.mcc), []).append(i)
            by_city.setdefault(m.city, []).append(i)
    pop = Population(cities, shops, [], by_city_mcc, online_by_mcc, by_city)
    pop.customers = _build_customers(rng, customers, pop, amount_scale)
    return pop
