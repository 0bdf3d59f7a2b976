"""Turning a simulated purchase into a transaction record of the contract.

Conventions of the generated records (documented in the README):

* ``timestamp`` is the event time in the local time of where the purchase happened, with its
  UTC offset (``2026-01-05T19:42:07+01:00``), so a night-time ATM withdrawal in Bangkok reads
  as night-time.
* ``amount``/``currency`` are the billed amount in the card's billing currency, as an issuer's
  authorisation feed shows it (a purchase in Tokyo on a German card is billed in EUR);
  ``country`` is the merchant's country.
* ``latitude``/``longitude``: the terminal for ``pos``/``atm``; for ``online`` the buyer's
  device geolocation (so a genuine online purchase is where the card holder is, a fraudster's
  is where the fraudster is); merchant-initiated charges carry the merchant's location.
* Genuine records have ``is_fraud=0`` and no ``fraud_scenario`` key (null in Parquet);
  fraudulent ones have ``is_fraud=1`` and ``fraud_scenario=<scenario name>``.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from rtad.generator.geo import jitter
from rtad.generator.population import Customer, Merchant, Population

Record = dict[str, Any]


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_iso(ts: float, tz: str) -> str:
    """ISO 8601 with the local UTC offset, to the second."""
    return datetime.fromtimestamp(int(ts), zone(tz)).isoformat()


def local_midnight(day: date, tz: str) -> float:
    """Epoch seconds of 00:00 local time on ``day`` in ``tz``."""
    return datetime(day.year, day.month, day.day, tzinfo=zone(tz)).timestamp()


def next_local_time(ts: float, tz: str, hour: float) -> float:
    """The first instant after ``ts`` at which the local clock in ``tz`` reads ``hour``."""
    local = datetime.fromtimestamp(ts, zone(tz))
    day = local.date()
    for offset in range(3):
        d = day + timedelta(days=offset)
        candidate = local_midnight(d, tz) + hour * 3600
        if candidate > ts:
            return candidate
    raise AssertionError("no local time found in three days")  # pragma: no cover


class RecordFactory:
    """Builds records; owns the transaction-id stream and the simulation's random generator."""

    def __init__(self, pop: Population, rng: np.random.Generator, seed: int) -> None:
        self.pop = pop
        self.rng = rng
        self._ids = random.Random(seed)  # noqa: S311 - ids need to be reproducible, not secret
        # Scalar draws of the hot path: random.Random is far cheaper per call than numpy's.
        self.rnd = random.Random(seed + 1)  # noqa: S311

    def new_id(self) -> str:
        """A random (version 4) UUID, drawn from the seeded generator."""
        h = f"{self._ids.getrandbits(122):031x}"
        variant = "89ab"[int(h[15], 16) & 3]
        return f"{h[:8]}-{h[8:12]}-4{h[12:15]}-{variant}{h[16:19]}-{h[19:31]}"

    def record(
        self,
        ts: float,
        customer: Customer,
        merchant: Merchant,
        amount: float,
        *,
        where: tuple[float, float] | None = None,
        tz: str | None = None,
        scenario: str | None = None,
    ) -> tuple[float, Record]:
        """One record at ``ts``; ``where`` overrides the location (online device, fraudster)."""
        lat, lon = where if where is not None else (merchant.latitude, merchant.longitude)
        city = self.pop.cities[merchant.city]
        rec: Record = {
            "transaction_id": self.new_id(),
            "timestamp": local_iso(ts, tz or city.tz),
            "user_id": customer.user_id,
            "merchant_id": merchant.merchant_id,
            "amount": 0.0 if amount == 0 else round(max(0.01, float(amount)), 2),
            "currency": customer.currency,
            "latitude": float(lat),
            "longitude": float(lon),
            "merchant_category": merchant.mcc,
            "channel": merchant.channel,
            "country": merchant.country,
            "is_fraud": 0 if scenario is None else 1,
        }
        if scenario is not None:
            rec["fraud_scenario"] = scenario
        return ts, rec

    def device_at(self, city: int) -> tuple[float, float]:
        """Geolocation of a device somewhere in ``city``."""
        c = self.pop.cities[city]
        return jitter(self.rnd.gauss, c.latitude, c.longitude, 6.0)

    def pick(self, items: list[int]) -> int:
        return items[self.rnd.randrange(len(items))]
