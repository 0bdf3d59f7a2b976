"""The simulated bank's world in numbers: countries, currencies, merchant categories, rhythms.

Amounts are typical purchases in EUR (before a card's own wealth factor and ``--amount-scale``);
weights are an average card's share of transactions per category.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Home countries of the issuer's cards and their share of the portfolio.
HOME_COUNTRIES: dict[str, float] = {
    "DE": 0.30,
    "FR": 0.20,
    "ES": 0.12,
    "IT": 0.12,
    "NL": 0.08,
    "BE": 0.06,
    "GB": 0.07,
    "PT": 0.05,
}
#: Countries of the "abroad" cities: holidays, business trips, and where fraudsters sit.
ABROAD_COUNTRIES: tuple[str, ...] = ("US", "JP", "TH", "BR", "RU", "NG", "CN", "MX", "TR", "IN")
BILLING_CURRENCY: dict[str, str] = {"GB": "GBP"}  # every other home country bills in EUR
LOCAL_CURRENCY: dict[str, str] = {
    "GB": "GBP",
    "US": "USD",
    "JP": "JPY",
    "TH": "THB",
    "BR": "BRL",
    "RU": "RUB",
    "NG": "NGN",
    "CN": "CNY",
    "MX": "MXN",
    "TR": "TRY",
    "IN": "INR",
    "CZ": "CZK",
    "PL": "PLN",
}


@dataclass(frozen=True, slots=True)
class Category:
    """A merchant category (ISO 18245 MCC) and what a typical purchase in it costs."""

    mcc: str
    name: str
    median: float  # typical amount in EUR
    sigma: float  # lognormal spread
    weight: float  # share of an average card's transactions
    online: float  # share of merchants of this category that sell online
    atm: bool = False


CATEGORIES: tuple[Category, ...] = (
    Category("5411", "grocery", 38.0, 0.6, 0.26, 0.05),
    Category("5812", "restaurant", 32.0, 0.5, 0.10, 0.0),
    Category("5814", "fast food", 11.0, 0.4, 0.09, 0.05),
    Category("5541", "fuel", 55.0, 0.35, 0.07, 0.0),
    Category("5912", "pharmacy", 19.0, 0.6, 0.05, 0.1),
    Category("5311", "department store", 65.0, 0.8, 0.05, 0.2),
    Category("5691", "clothing", 70.0, 0.7, 0.05, 0.35),
    Category("5732", "electronics", 140.0, 1.0, 0.03, 0.5),
    Category("5999", "online retail", 42.0, 0.9, 0.07, 1.0),
    Category("5816", "digital goods", 9.0, 0.8, 0.04, 1.0),
    Category("4899", "streaming subscription", 12.0, 0.2, 0.03, 1.0),
    Category("4121", "taxi", 19.0, 0.5, 0.04, 0.3),
    Category("4111", "public transport", 4.5, 0.5, 0.05, 0.2),
    Category("5942", "books", 22.0, 0.5, 0.02, 0.4),
    Category("7011", "hotel", 150.0, 0.5, 0.01, 0.3),
    Category("4511", "airline", 260.0, 0.6, 0.01, 0.9),
    Category("5944", "jewellery", 320.0, 0.9, 0.004, 0.3),
    Category("6011", "ATM", 100.0, 0.6, 0.04, 0.0, atm=True),
)
MCC_INDEX: dict[str, int] = {c.mcc: i for i, c in enumerate(CATEGORIES)}
#: Categories a traveller spends in (hotel, restaurants, taxi, fast food, ATM).
TRAVEL_MCCS: tuple[str, ...] = ("7011", "5812", "4121", "5814", "6011", "5411")

# Genuine daily rhythm (local time): quiet nights, a lunch peak and an evening peak.
BASE_HOURS = np.array(
    [0.6, 0.3, 0.15, 0.1, 0.1, 0.2, 0.6, 1.5, 2.6, 3.2, 3.8, 4.4]
    + [5.6, 5.2, 4.2, 4.0, 4.4, 5.2, 6.0, 5.6, 4.2, 2.8, 1.8, 1.1]
)
#: Monday..Sunday volume factors (Saturday shopping, quiet Sunday).
WEEKDAY_FACTOR = (0.95, 0.95, 1.0, 1.0, 1.15, 1.3, 0.65)
