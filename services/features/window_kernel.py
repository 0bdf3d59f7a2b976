"""The per-card feature kernel behind :mod:`rtad.features.card_features`.

Rows of many cards, sorted by (card, event time), each card's window history first: every
feature of the new rows in one pass over the batch. Windowed figures look back at most
:data:`WINDOW` rows of the same card, so cutting a card's history into chunks gives the same
numbers (the public functions live in :mod:`rtad.features.card_features`). The output's
columns are :data:`~rtad.features.table.WINDOW_FEATURES`, in the table's order.

The windowed features are one compiled loop (:func:`_window_features`, Numba): a row's window
is at most 32 rows, so a loop over them, in registers, does without building rows x 32
matrices for every figure. It is compiled on its first call and cached beside this file (or
under ``NUMBA_CACHE_DIR``), so a process pays the compilation once per version of the code.
Arithmetic follows IEEE like numpy (``error_model="numpy"``: a division by zero gives inf, not
an exception). Merchant and category novelty stays in numpy
(:func:`rtad.features.window_memory.remember`): it walks the cards' memories, not their
windows.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

from rtad.features.table import WINDOW_FEATURES
from rtad.features.window_memory import Memory, remember

WINDOW = 32  # previous transactions a card's features look at
MERCHANT_MEMORY = 48  # distinct merchants a card remembers (LRU)
CATEGORY_MEMORY = 8  # values of each optional category a card remembers
#: Optional categorical columns whose novelty is a feature (0 when the column is absent).
CATEGORIES = ("currency", "country", "merchant_category", "channel")
_MIN, _HOUR, _DAY = 60_000, 3_600_000, 86_400_000
GAP_NEUTRAL_S = 7 * 86_400.0  # gap reported for a card's first transaction
AMOUNT_FLOOR = 0.01  # amounts below one cent (zero) are taken as one cent in log features
SPREAD_FLOOR = 0.25  # log-amount spread below this is treated as this (avoids z blow-ups)
SMALL_SHARE = 0.2  # a purchase at most this share of the card's median is "small"
TOWN_KM = 30.0  # distances within a town are not travel
EARTH_KM = 6371.0088

_WIDTH = len(WINDOW_FEATURES)
#: A squared chord below which two points are surely within TOWN_KM (a margin of 1e-9).
_TOWN_CHORD2 = (2 * math.sin(TOWN_KM / (2 * EARTH_KM))) ** 2 * (1 - 1e-9)


def compute_features(b: dict[str, Any], memories: dict[str, Memory]) -> dict[str, np.ndarray]:
    """Every feature of the rows flagged ``is_new`` (in ``b``'s order), by name.

    ``b`` holds rows sorted by (card, event time); ``start`` is the index of each row's first
    card row, ``prior`` the card's transactions before that row. Window rows (``is_new``
    False) are history only: their stored values are kept and they are not scored. The
    per-row flags the windows remember (``small``, ``newm``, ``c1h``) are set for the new rows
    (in copies, in ``b``); ``memories`` gets the updated memories.
    """
    start = np.ascontiguousarray(b["start"], dtype=np.int64)
    r = np.flatnonzero(b["is_new"]).astype(np.int64)
    seg = np.cumsum(np.r_[0, start[1:] != start[:-1]])
    has_prev = r > start[r]
    f: dict[str, np.ndarray] = {}
    for name in ("small", "newm", "c1h"):
        b[name] = np.array(b[name], dtype=np.int64)  # a copy: the caller's arrays stay
    b["newm"][r] = _novelty_features(f, b, r, seg, has_prev, memories)
    values = _window_features(  # type: ignore[call-arg]  # numba Dispatcher: typed as one call
        np.ascontiguousarray(b["t"], dtype=np.int64),
        *(np.ascontiguousarray(b[k], dtype=np.float64) for k in ("amount", "lat", "lon")),
        np.ascontiguousarray(b["merchant"], dtype=np.int64),
        b["small"],
        b["newm"],
        b["c1h"],
        start,
        np.ascontiguousarray(b["prior"], dtype=np.int64),
        r,
    )
    f.update({name: values[:, k] for k, name in enumerate(WINDOW_FEATURES)})
    return f


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _window_features(
    t: np.ndarray,
    amount: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    merchant: np.ndarray,
    small: np.ndarray,
    newm: np.ndarray,
    c1h: np.ndarray,
    start: np.ndarray,
    prior: np.ndarray,
    rows: np.ndarray,
) -> np.ndarray:
    """The :data:`WINDOW_FEATURES` of ``rows`` (ascending indices of the new rows), a row of
    the output each; sets ``small`` and ``c1h`` of those rows (``newm`` is read: set before).

    A row's window is the up to :data:`WINDOW` rows of its card before it. Velocity counts
    and sums take the rows of the last 10 min / 1 h / 24 h of event time within the window,
    the row itself included; sums add integer cents, so a chunked run adds the same numbers.
    """
    n = len(t)
    out = np.zeros((len(rows), _WIDTH))
    # zero amounts (account verifications) count as one cent: no -inf in the logs and ratios
    log_amount = np.log(np.maximum(amount, AMOUNT_FLOOR))
    # points on the unit sphere: a window's distances then need no trigonometry
    x, y, z = np.empty(n), np.empty(n), np.empty(n)
    hour = np.empty(n, np.int64)  # local solar hour (UTC + longitude / 15): no tz database
    cents = np.empty(n, np.int64)
    for j in range(n):
        p, q = math.radians(lat[j]), math.radians(lon[j])
        x[j], y[j], z[j] = math.cos(p) * math.cos(q), math.cos(p) * math.sin(q), math.sin(p)
        solar = t[j] + np.int64(np.rint(lon[j] * (_HOUR / 15)))
        hour[j] = (solar // _HOUR) % 24
        cents[j] = np.int64(np.rint(amount[j] * 100))
    buf = np.empty(WINDOW)
    codes = np.empty(WINDOW + 1, np.int64)
    small_cut = math.log(SMALL_SHARE)
    for k in range(len(rows)):
        i = rows[k]
        first = start[i]
        lo = max(first, i - WINDOW)
        count = i - lo  # window rows
        has_prev = count > 0
        own = log_amount[i]
        out[k, 0] = math.log1p(prior[i] + i - first)
        out[k, 1] = own
        med = np.nan
        if has_prev:
            med = _median(log_amount[lo:i], buf)
            for m in range(count):
                buf[m] = abs(log_amount[lo + m] - med)
            spread = 1.4826 * _median(buf[:count], buf)
            out[k, 2] = own - med
            out[k, 3] = min(max((own - med) / max(spread, SPREAD_FLOOR), -50.0), 50.0)
            out[k, 4] = spread
            out[k, 5] = own - log_amount[lo:i].max()
        small[i] = 1 if has_prev and own <= med + small_cut else 0
        # places: the gap since the previous purchase, the fastest journey implied from any
        # window place (only the distance beyond TOWN_KM counts, no gap under 5 min), home
        out[k, 6] = math.log1p((t[i] - t[i - 1]) / 1000.0 if has_prev else GAP_NEUTRAL_S)
        if has_prev:
            # km grows with the squared chord: the nearest place is the smallest chord, and a
            # chord within the town's (less a margin) is no journey, its km not needed
            best, best_j, nearest = -1.0, lo, np.inf
            for j in range(lo, i):
                chord2 = (x[j] - x[i]) ** 2 + (y[j] - y[i]) ** 2 + (z[j] - z[i]) ** 2
                nearest = min(nearest, chord2)
                speed = 0.0
                if chord2 > _TOWN_CHORD2:
                    hours = (t[i] - t[j]) / 3_600_000.0
                    speed = max(_chord_km(chord2) - TOWN_KM, 0.0) / max(hours, 1 / 12)
                if speed > best:  # the first of equal speeds, the oldest
                    best, best_j = speed, j
            home = _haversine_km(_median(lat[lo:i], buf), _median(lon[lo:i], buf), lat[i], lon[i])
            out[k, 10], out[k, 11] = home, _chord_km(nearest)
            # a purchase at the card's usual place is no journey, whatever happened elsewhere
            # (a far purchase minutes earlier is the suspicious one, and it was scored then)
            if home > TOWN_KM:
                j = best_j
                chord2 = (x[j] - x[i]) ** 2 + (y[j] - y[i]) ** 2 + (z[j] - z[i]) ** 2
                out[k, 7] = math.log1p(max(best, 0.0))
                out[k, 8] = _chord_km(chord2)
                out[k, 9] = math.log1p((t[i] - t[j]) / 3_600_000.0 * 3600)
        # velocity: the window's rows within 10 min / 1 h / 24 h, this one included
        n10 = n1h = n24 = 1
        spent_1h = spent_24h = cents[i]
        small_1h, new_1h, new_24h = small[i], newm[i], newm[i]
        codes[0] = merchant[i]
        for j in range(i - 1, lo - 1, -1):
            age = t[i] - t[j]
            if age > _DAY:
                break
            n24 += 1
            spent_24h += cents[j]
            new_24h += newm[j]
            codes[n24 - 1] = merchant[j]
            if age <= _HOUR:
                n1h += 1
                spent_1h += cents[j]
                small_1h += small[j]
                new_1h += newm[j]
                if age <= 10 * _MIN:
                    n10 += 1
        c1h[i] = n1h
        out[k, 12], out[k, 13], out[k, 14] = n10, n1h, n24
        usual_1h = 0
        for j in range(lo, i):
            usual_1h = max(usual_1h, c1h[j])
        out[k, 15] = n1h - max(usual_1h, 1) if has_prev else 0.0
        median_amount = math.exp(med if has_prev else own)
        out[k, 16] = math.log(max(spent_1h / 100.0, 0.01) / median_amount)
        out[k, 17] = math.log(max(spent_24h / 100.0, 0.01) / median_amount)
        out[k, 18], out[k, 19], out[k, 20] = small_1h, new_1h, new_24h
        out[k, 21] = _distinct(codes[:n24])
        # hour rarity: log(1/8 / p), p the smoothed share of the window within +-1 h
        near = 0
        for j in range(lo, i):
            diff = abs(hour[j] - hour[i])
            near += min(diff, 24 - diff) <= 1
        out[k, 22] = math.log(0.125 / ((near + 1.0) / (count + 8.0)))
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _median(values: np.ndarray, buf: np.ndarray) -> float:
    """The median of ``values`` (at most len(buf), not empty), sorted in ``buf``."""
    count = len(values)
    for m in range(count):  # insertion sort: at most WINDOW values
        v, at = values[m], m
        while at > 0 and buf[at - 1] > v:
            buf[at] = buf[at - 1]
            at -= 1
        buf[at] = v
    return (buf[(count - 1) // 2] + buf[count // 2]) / 2


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _distinct(codes: np.ndarray) -> int:
    """How many distinct values ``codes`` holds (sorts it in place)."""
    codes.sort()
    distinct = 1
    for m in range(1, len(codes)):
        distinct += codes[m] != codes[m - 1]
    return distinct


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _chord_km(chord2: float) -> float:
    """Great-circle km of a squared chord between two points of the unit sphere."""
    return 2 * EARTH_KM * math.asin(min(math.sqrt(chord2) / 2, 1.0))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle km between two points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dlat, dlon = p2 - p1, math.radians(lon2) - math.radians(lon1)
    h = math.sin(dlat / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_KM * math.asin(math.sqrt(min(max(h, 0.0), 1.0)))


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
