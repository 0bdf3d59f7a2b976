"""The table of features: every per-card feature once, and every list of them derived from it.

A row says what the feature measures, which way is suspicious, which aspect of suspicion it
belongs to, the reason code that reports it and whether the scorer watches it for drift. The
table's order is the order of the feature columns (training, streaming and the feature
entries all use it), and the window features come out of the compiled kernel
(:mod:`rtad.features.window_kernel`) in that order too.

>>> FEATURE_COLUMNS[:3]
('history_log_count', 'amount_log', 'amount_ratio_log')
>>> SUSPICIOUS_DIRECTION["gap_log_s"], ASPECTS["count_10m"], "home_km" in DRIFT_FEATURES
(-1, 'velocity', True)
>>> [r.code for r in REASONS][:2]
['amount_vs_median', 'distance_from_previous']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from operator import attrgetter

import numpy as np

#: A row's feature values by name (what a reason's text reads).
Row = dict[str, float]

#: Where a feature is computed: the compiled window loop, or the cards' LRU memories.
WINDOW, MEMORY = "window", "memory"
#: Suspicious directions: large values, small values, both tails, or context only.
LARGE, SMALL, BOTH, CONTEXT = 1, -1, 2, 0


@dataclass(frozen=True)
class Reason:
    """A reason code: its sentence (from the row's values) and the features the text reads
    besides its own. ``rank`` orders reasons that are equally rare (lower first)."""

    code: str
    text: Callable[[Row], str]
    needs: tuple[str, ...] = ()
    rank: int = 0
    #: the feature whose rarity the code reports (set by the table)
    feature: str = ""


@dataclass(frozen=True)
class Feature:
    """One feature column."""

    name: str
    description: str
    direction: int = CONTEXT
    #: the aspect of suspicion it measures: a CardTailDetector counts each aspect once
    aspect: str = ""
    reason: Reason | None = None
    #: True: the scorer watches its distribution for drift
    drift: bool = False
    source: str = WINDOW


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def _times(log_ratio: float) -> str:
    """A ratio kept as its log, for a reason: ``3.2x``; beyond a million times, ``>1,000,000x``
    (a value no card's history makes, but the API's callers can send)."""
    if not log_ratio < np.log(1e6):  # NaN too: nothing better to say than "huge"
        return ">1,000,000x"
    return f"{np.exp(log_ratio):.1f}x"


def _count(n: float, noun: str) -> str:
    return f"{n:.0f} {noun}" if round(n) == 1 else f"{n:.0f} {noun}s"


def _new_merchants(r: Row) -> str:
    if r["new_merchants_1h"] > 1:
        return f"{r['new_merchants_1h']:.0f} new merchants in the last hour"
    return "first purchase at this merchant"


def _novelty(name: str, what: str, code: str, aspect: str, rank: int, first: str) -> Feature:
    """A 1/0 feature: the card has not used this value of an optional column before; its
    reason reads "first purchase <first>"."""
    return Feature(
        name,
        f"1 when the {what} is new to the card",
        LARGE,
        aspect,
        Reason(code, lambda r: f"first purchase {first}", rank=rank),
        source=MEMORY,
    )


FEATURES: tuple[Feature, ...] = (
    Feature("history_log_count", "log1p(previous transactions of the card)"),
    Feature("amount_log", "log(amount)", LARGE, drift=True),
    Feature(
        "amount_ratio_log",
        "log(amount / median of the card's last WINDOW amounts); tiny charges (card testing) "
        "are as telling as large ones",
        BOTH,
        "amount",
        Reason(
            "amount_vs_median",
            lambda r: f"amount {_times(r['amount_ratio_log'])} this card's median",
            rank=0,
        ),
        drift=True,
    ),
    Feature(
        "amount_robust_z",
        "(log amount - median) / (1.4826 MAD), the spread floored",
        BOTH,
        "amount",
    ),
    Feature("amount_spread", "1.4826 MAD of the card's log amounts"),
    Feature(
        "amount_vs_max_log",
        "log(amount / the largest of the card's last WINDOW amounts)",
        LARGE,
    ),
    Feature("gap_log_s", "log1p(seconds since the previous transaction)", SMALL, drift=True),
    Feature(
        "speed_log_kmh",
        "log1p(fastest km/h implied from any window place: km beyond a town, gap floored at "
        "5 min); catches every purchase of a far burst, not just the first",
        LARGE,
        "journey",
        Reason(
            "distance_from_previous",
            lambda r: (
                f"{r['travel_km']:,.0f} km from a purchase "
                f"{_duration(np.expm1(r['travel_gap_log_s']))} earlier"
            ),
            ("travel_km", "travel_gap_log_s"),
            rank=1,
        ),
    ),
    Feature("travel_km", "km of that fastest journey", LARGE, "place"),
    Feature("travel_gap_log_s", "log1p(seconds) of that fastest journey"),
    Feature(
        "home_km",
        "km from the card's usual place (median lat/lon of its window)",
        LARGE,
        "place",
        Reason(
            "far_from_home", lambda r: f"{r['home_km']:,.0f} km from the card's usual area", rank=2
        ),
        drift=True,
    ),
    Feature(
        "nearest_km",
        "km from the nearest place of the card's window (0: a known place)",
        LARGE,
        "place",
    ),
    Feature(
        "count_10m",
        "transactions in the last 10 min, this one included",
        LARGE,
        "velocity",
        Reason(
            "velocity_10m",
            lambda r: f"{_count(r['count_10m'], 'purchase')} in the last 10 min",
            rank=3,
        ),
    ),
    Feature(
        "count_1h",
        "transactions in the last hour, this one included",
        LARGE,
        "velocity",
        Reason(
            "velocity_1h", lambda r: f"{_count(r['count_1h'], 'purchase')} in the last hour", rank=4
        ),
        drift=True,
    ),
    Feature("count_24h", "transactions in the last 24 h, this one included", LARGE),
    Feature(
        "count_1h_excess",
        "count_1h minus the most the card did in an hour within its window",
        LARGE,
        "velocity",
    ),
    Feature(
        "sum_1h_ratio_log",
        "log(amount spent in the last hour / the card's median amount)",
        LARGE,
        "spend",
    ),
    Feature(
        "sum_24h_ratio_log",
        "log(amount spent in the last 24 h / the card's median amount)",
        LARGE,
        "spend",
        Reason(
            "spend_24h",
            lambda r: f"spent {_times(r['sum_24h_ratio_log'])} this card's median in 24 h",
            rank=6,
        ),
    ),
    Feature(
        "small_count_1h",
        "small purchases (at most 1/5 of the median) in the last hour",
        LARGE,
        "small_amounts",
        Reason(
            "small_amount_burst",
            lambda r: f"{_count(r['small_count_1h'], 'small charge')} in the last hour",
            rank=5,
        ),
    ),
    Feature(
        "new_merchants_1h",
        "first visits to a merchant in the last hour",
        LARGE,
        "merchants",
        Reason("new_merchant", _new_merchants, rank=7),
    ),
    Feature("new_merchants_24h", "first visits to a merchant in the last 24 h", LARGE),
    Feature("distinct_merchants_24h", "distinct merchants in the last 24 h", LARGE),
    Feature(
        "merchant_new",
        "1 when the merchant is not among the card's remembered merchants",
        LARGE,
        "merchants",
        source=MEMORY,
    ),
    Feature("merchant_visits_log", "log1p(previous visits to this merchant)", SMALL, source=MEMORY),
    Feature(
        "hour_rarity",
        "log(uniform share / the card's share of this local hour +-1 h)",
        LARGE,
        "hour",
        Reason("unusual_hour", lambda r: "a rare hour of the day for this card", rank=8),
    ),
    _novelty("currency_new", "currency", "new_currency", "currency", 12, "in this currency"),
    _novelty("country_new", "country", "new_country", "country", 9, "in this country"),
    _novelty(
        "merchant_category_new",
        "merchant category",
        "new_category",
        "category",
        10,
        "in this merchant category",
    ),
    _novelty("channel_new", "channel", "new_channel", "channel", 11, "through this channel"),
)

#: Every feature column, in order.
FEATURE_COLUMNS: tuple[str, ...] = tuple(f.name for f in FEATURES)
#: The columns of the compiled window kernel's output, in order.
WINDOW_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.source == WINDOW)
#: The suspicious direction of each feature (1: large, -1: small, 2: both tails, 0: context).
SUSPICIOUS_DIRECTION: dict[str, int] = {f.name: f.direction for f in FEATURES}
#: The aspect of suspicion of each feature that has one.
ASPECTS: dict[str, str] = {f.name: f.aspect for f in FEATURES if f.aspect}
#: The reason codes, each with its feature, in the order ties are broken.
REASONS: tuple[Reason, ...] = tuple(
    sorted(
        (replace(f.reason, feature=f.name) for f in FEATURES if f.reason is not None),
        key=attrgetter("rank"),
    )
)
#: Features whose distribution the scorer watches for drift (besides the score).
DRIFT_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.drift)
