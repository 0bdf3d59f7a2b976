"""Row-wise statistics over each transaction's window of previous rows of the same card.

The per-card features (:mod:`rtad.streaming.features`) lay a card's rows out in time order
and look, for every row, at the ``width`` rows before it (an index matrix, padded where the
card has fewer): medians of NaN-padded windows, distinct counts, great-circle distances, and
a per-card LRU memory for novelty. Pure numpy; nothing here knows about features.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

import numpy as np

EARTH_KM = 6371.0088


def window(i: np.ndarray, start: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of each row's previous ``width`` rows of the same card, and which are real."""
    idx = i[:, None] - np.arange(width, 0, -1)[None, :]
    valid = idx >= start[:, None]
    return np.maximum(idx, 0), valid


def median_and_spread(win: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise median and 1.4826 * MAD of a NaN-padded window matrix."""
    med = nan_median(win, valid.sum(axis=1))
    mad = nan_median(np.abs(win - med[:, None]), valid.sum(axis=1))
    return med, 1.4826 * mad


def nan_median(win: np.ndarray, count: np.ndarray) -> np.ndarray:
    ordered = np.sort(win, axis=1)  # NaN sorts last
    rows = np.arange(len(win))
    lower = ordered[rows, np.maximum(count - 1, 0) // 2]
    upper = ordered[rows, np.minimum(count // 2, win.shape[1] - 1)]
    return np.where(count > 0, (lower + upper) / 2, np.nan)


def unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Points on the unit sphere (n x 3): distances of many pairs then need no trigonometry."""
    p, q = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(p) * np.cos(q), np.cos(p) * np.sin(q), np.sin(p)], axis=-1)


def window_km(xyz: np.ndarray, idx: np.ndarray, own: np.ndarray) -> np.ndarray:
    """Great-circle km from each row's point (``own``: rows x 3) to its window's points."""
    chord2 = np.zeros(idx.shape)
    for axis in range(3):  # squared chord, axis by axis: no cancellation for close points
        chord2 += np.square(xyz[:, axis][idx] - own[:, axis][:, None])
    return 2 * EARTH_KM * np.arcsin(np.minimum(np.sqrt(chord2) / 2, 1.0))


def haversine_km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> np.ndarray:
    """Great-circle km between two (arrays of) points."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlat, dlon = p2 - p1, np.radians(lon2) - np.radians(lon1)
    h = np.sin(dlat / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def distinct_count(
    merchant: np.ndarray, idx: np.ndarray, lo: np.ndarray, own: np.ndarray
) -> np.ndarray:
    """Distinct merchants among a row's window rows from ``lo`` on, and its own (``own``)."""
    codes = np.where(idx >= lo[:, None], merchant[idx], -1)
    codes = np.sort(np.column_stack([codes, own]), axis=1)
    changes = (codes[:, 1:] != codes[:, :-1]) & (codes[:, 1:] >= 0)
    return (changes.sum(axis=1) + (codes[:, 0] >= 0)).astype(np.float64)


def remember(
    keys: np.ndarray, segs: np.ndarray, first: np.ndarray, memory: list, capacity: int
) -> tuple[np.ndarray, np.ndarray]:
    """(is new, previous visits) per key, through a per-card LRU memory.

    ``memory[card]`` is a flat list ``[key, visits, key, visits, ...]``, least recently used
    first (flat: compact in JSON and cheap to turn into a dict). A key is new when the card
    remembers other keys but not this one.
    """
    is_new, visits = np.zeros(len(keys)), np.zeros(len(keys))
    current, seen = -1, dict[int, int]()
    for j, (key, s, fresh) in enumerate(
        zip(keys.tolist(), segs.tolist(), first.tolist(), strict=True)
    ):
        if s != current:
            if current >= 0:
                memory[current] = list(chain.from_iterable(seen.items()))
            current, seen = s, dict(zip(memory[s][::2], memory[s][1::2], strict=True))
        if key == 0:  # a missing value: neither new nor remembered
            continue
        count = seen.pop(key, 0)
        is_new[j], visits[j] = (count == 0 and bool(seen) and not fresh), count
        seen[key] = count + 1
        if len(seen) > capacity:
            del seen[next(iter(seen))]  # least recently used
    if current >= 0:
        memory[current] = list(chain.from_iterable(seen.items()))
    return is_new, visits
