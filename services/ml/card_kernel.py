"""The vectorised per-card feature kernel behind :mod:`rtad.streaming.features`.

Rows of many cards, sorted by (card, event time), each card's window history first: every
feature of the new rows in one pass of numpy over the whole batch. Windowed figures look back
at most :data:`WINDOW` rows of the same card, so cutting a card's history into chunks gives
the same numbers (the public functions and their tests live in ``rtad.streaming.features``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rtad.ml.window_stats import (
    Memory,
    distinct_count,
    haversine_km,
    median_and_spread,
    nan_median,
    remember,
    unit_vectors,
    window,
    window_km,
)

WINDOW = 32  # previous transactions a card's features look at
MERCHANT_MEMORY = 48  # distinct merchants a card remembers (LRU)
CATEGORY_MEMORY = 8  # values of each optional category a card remembers
#: Optional categorical columns whose novelty is a feature (0 when the column is absent).
CATEGORIES = ("currency", "country", "merchant_category", "channel")
_MIN, _HOUR, _DAY = 60_000, 3_600_000, 86_400_000
GAP_NEUTRAL_S = 7 * 86_400.0  # gap reported for a card's first transaction
SPREAD_FLOOR = 0.25  # log-amount spread below this is treated as this (avoids z blow-ups)
SMALL_SHARE = 0.2  # a purchase at most this share of the card's median is "small"
TOWN_KM = 30.0  # distances within a town are not travel


def compute_features(b: dict[str, Any], memories: dict[str, Memory]) -> dict[str, np.ndarray]:
    """Every feature of the rows flagged ``is_new`` (in ``b``'s order), by name.

    ``b`` holds rows sorted by (card, event time); ``start`` is the index of each row's first
    card row, ``prior`` the card's transactions before that row. Window rows (``is_new``
    False) are history only: their stored values are kept and they are not scored, so the
    window matrices are built for the new rows only.
    """
    i = np.arange(len(b["t"]))
    seg = np.cumsum(np.r_[0, b["start"][1:] != b["start"][:-1]])
    r = np.flatnonzero(b["is_new"])
    has_prev = (i > b["start"])[r]
    f: dict[str, np.ndarray] = {"history_log_count": np.log1p(b["prior"][r] + r - b["start"][r])}
    idx, valid = window(r, b["start"][r], WINDOW)
    log_amount = np.log(b["amount"])
    own = log_amount[r]
    med, spread = median_and_spread(np.where(valid, log_amount[idx], np.nan), valid)
    f["amount_log"] = own
    f["amount_ratio_log"] = np.where(has_prev, own - med, 0.0)
    f["amount_spread"] = np.where(has_prev, spread, 0.0)
    z = (own - med) / np.maximum(spread, SPREAD_FLOOR)
    f["amount_robust_z"] = np.where(has_prev, np.clip(z, -50, 50), 0.0)
    top = np.where(valid, log_amount[idx], -np.inf).max(axis=1)
    f["amount_vs_max_log"] = np.where(has_prev, own - top, 0.0)
    b["small"] = b["small"].copy()
    b["small"][r] = has_prev & (own <= med + np.log(SMALL_SHARE))
    _place_features(f, b, r, idx, valid, has_prev)
    b["newm"] = b["newm"].copy()
    b["newm"][r] = _novelty_features(f, b, r, seg, has_prev, memories)
    counts, lo_24h = _velocity_features(b, seg)
    median_amount = np.exp(np.where(has_prev, med, own))
    for name, values in counts.items():
        if name.startswith("spent_"):
            f[f"sum_{name[6:]}_ratio_log"] = np.log(np.maximum(values[r], 0.01) / median_amount)
        else:
            f[name] = values[r].astype(np.float64)
    b["c1h"] = b["c1h"].copy()
    b["c1h"][r] = counts["count_1h"][r]
    usual_1h = np.where(valid, b["c1h"][idx], 0).max(axis=1)
    f["count_1h_excess"] = np.where(has_prev, f["count_1h"] - np.maximum(usual_1h, 1), 0.0)
    f["distinct_merchants_24h"] = distinct_count(b["merchant"], idx, lo_24h[r], b["merchant"][r])
    f["hour_rarity"] = _hour_rarity(b, r, idx, valid)
    return f


def _place_features(
    f: dict, b: dict, r: np.ndarray, idx: np.ndarray, valid: np.ndarray, has_prev: Any
) -> None:
    """Gap since the previous purchase; fastest journey implied from any window place; home."""
    t, lat, lon = b["t"][r], b["lat"][r], b["lon"][r]
    gap_s = (t - b["t"][np.maximum(r - 1, 0)]) / 1000.0
    f["gap_log_s"] = np.log1p(np.where(has_prev, gap_s, GAP_NEUTRAL_S))
    xyz = unit_vectors(b["lat"], b["lon"])
    km = window_km(xyz, idx, xyz[r])
    hours = np.where(valid, t[:, None] - b["t"][idx], 0) / 3_600_000.0
    # Two shops of one town a minute apart are no journey: only the distance beyond
    # TOWN_KM counts, and no gap is shorter than 5 min (clock and location noise).
    speed = np.where(valid, np.maximum(km - TOWN_KM, 0.0) / np.maximum(hours, 1 / 12), -1.0)
    fastest = np.argmax(speed, axis=1)
    rows = np.arange(len(speed))
    count = valid.sum(axis=1)
    home_lat = nan_median(np.where(valid, b["lat"][idx], np.nan), count)
    home_lon = nan_median(np.where(valid, b["lon"][idx], np.nan), count)
    home = np.where(has_prev, haversine_km(home_lat, home_lon, lat, lon), 0.0)
    f["home_km"] = home
    # A purchase at the card's usual place is no journey, whatever happened elsewhere
    # (a far purchase minutes earlier is the suspicious one, and it was scored then).
    away = has_prev & (home > TOWN_KM)
    f["speed_log_kmh"] = np.where(away, np.log1p(np.maximum(speed[rows, fastest], 0)), 0.0)
    f["travel_km"] = np.where(away, km[rows, fastest], 0.0)
    f["travel_gap_log_s"] = np.where(away, np.log1p(hours[rows, fastest] * 3600), 0.0)
    f["nearest_km"] = np.where(has_prev, np.where(valid, km, np.inf).min(axis=1), 0.0)


def _velocity_features(b: dict, seg: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Counts and sums over the last 10 min / 1 h / 24 h of event time (this row included),
    for every row, and the first row of each row's 24 h window.

    Sums use integer cents and prefix sums, so a chunked run adds exactly the same numbers.
    """
    t = b["t"]
    i = np.arange(len(t))
    key = seg * (int(t.max() - t.min()) + 2 * _DAY) + (t - t.min())  # cards never overlap
    prefix = {
        "cents": np.r_[0, np.cumsum(np.round(b["amount"] * 100).astype(np.int64))],
        "small": np.r_[0, np.cumsum(b["small"])],
        "newm": np.r_[0, np.cumsum(b["newm"])],
    }
    lo, out = {}, {}
    for name, span in (("10m", 10 * _MIN), ("1h", _HOUR), ("24h", _DAY)):
        first = np.searchsorted(key, key - span, side="left")
        lo[name] = np.maximum(first, np.maximum(i - WINDOW, b["start"]))  # within the window
        out[f"count_{name}"] = i - lo[name] + 1
    for name in ("1h", "24h"):
        out[f"spent_{name}"] = (prefix["cents"][i + 1] - prefix["cents"][lo[name]]) / 100.0
        out[f"new_merchants_{name}"] = prefix["newm"][i + 1] - prefix["newm"][lo[name]]
    out["small_count_1h"] = prefix["small"][i + 1] - prefix["small"][lo["1h"]]
    return out, lo["24h"]


def _hour_rarity(b: dict, r: np.ndarray, idx: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """log(1/8 / p): p = smoothed share of the card's window within +-1 h of this hour.

    Hours are local solar time at the place of purchase (UTC + longitude / 15): what a card
    holder's day looks like wherever they are, with no time-zone database.
    """
    solar_ms = b["t"] + np.round(b["lon"] * (_HOUR / 15)).astype(np.int64)
    hour = (solar_ms // _HOUR) % 24
    diff = np.abs(hour[idx] - hour[r][:, None])
    near = valid & (np.minimum(diff, 24 - diff) <= 1)
    share = (near.sum(axis=1) + 1.0) / (valid.sum(axis=1) + 8.0)  # prior: 8 uniform events
    return np.log(0.125 / share)


def _novelty_features(
    f: dict, b: dict, r: np.ndarray, seg: np.ndarray, has_prev: np.ndarray, memories: dict
) -> np.ndarray:
    """Merchant and category novelty of the new rows (in time order), updating the memories.

    Returns the new-merchant flag of each new row; ``memories`` gets the updated memories.
    """
    first = ~has_prev
    new_m, visits, memories["merchants"] = remember(
        b["merchant"][r], seg[r], first, memories["merchants"], MERCHANT_MEMORY
    )
    f["merchant_new"], f["merchant_visits_log"] = new_m, np.log1p(visits)
    for name in CATEGORIES:
        f[f"{name}_new"] = np.zeros(len(r))
        if b[name] is not None:
            f[f"{name}_new"], _, memories[name] = remember(
                b[name][r], seg[r], first, memories[name], CATEGORY_MEMORY
            )
    return new_m
