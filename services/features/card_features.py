"""Per-card features: each transaction measured against its own card's recent history.

The same code builds training features (:func:`batch_features` over a file) and streaming
features (:func:`card_step`, called by the Spark job once per card and micro-batch with the
card's state). numpy/pandas around one compiled loop (:mod:`rtad.features.window_kernel`, Numba)
for the windowed figures; the columns are :data:`rtad.features.table.FEATURE_COLUMNS`. The
state is a small JSON-serialisable dict:

- a window of the card's last :data:`~rtad.features.window_kernel.WINDOW` transactions (time,
  amount, place, merchant and two flags) — medians, spreads, velocity, usual place and usual
  hours come from it;
- the last :data:`~rtad.features.window_kernel.MERCHANT_MEMORY` distinct merchants with visit
  counts (LRU order), and the last few currencies, countries, MCCs and channels seen — novelty
  comes from them.

Every windowed figure looks back at most ``WINDOW`` transactions, so chunked calls give the
same rows as one call over the whole history. Late events (older than the window's newest) are
inserted by event time. Missing optional columns give neutral values (0).

>>> import pandas as pd
>>> rows = pd.DataFrame({"transaction_id": ["a", "b"], "user_id": "u", "merchant_id": "m",
...     "amount": [10.0, 80.0], "currency": "EUR", "latitude": 48.85, "longitude": 2.35,
...     "timestamp": pd.to_datetime(["2026-01-05T10:00:00Z", "2026-01-05T10:05:00Z"])})
>>> state, out = card_step(None, rows)
>>> float(out["amount_ratio_log"].iloc[1].round(3)), state["n"]
(2.079, 2)
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import orjson
import pandas as pd

from rtad.features.table import FEATURE_COLUMNS
from rtad.features.window_kernel import CATEGORIES, WINDOW, compute_features
from rtad.features.window_memory import Memory

__all__ = [
    "MEMORIES",
    "WINDOW_DTYPES",
    "WINDOW_KEYS",
    "History",
    "batch_features",
    "card_step",
    "card_step_matrix",
    "cards_step",
    "decode_state",
    "encode_state",
    "feature_inputs",
    "hash_values",
    "text_code",
    "new_state",
    "step_history",
]

STATE_VERSION = 2  # 2: merchant and category memories as flat [key, visits, ...] lists


#: The columns of a card's window (its last WINDOW transactions), with their types.
WINDOW_DTYPES: dict[str, Any] = {
    "t": np.int64,  # event time, ms since the epoch
    "amount": np.float64,
    "lat": np.float64,
    "lon": np.float64,
    "merchant": np.int64,  # CRC-32 of merchant_id
    "small": np.int64,  # per-row results the window must remember (not recomputable) ...
    "newm": np.int64,
    "c1h": np.int64,
}
WINDOW_KEYS = tuple(WINDOW_DTYPES)
#: The card's LRU memories: merchants, then the optional categories.
MEMORIES = ("merchants", *CATEGORIES)
_W5 = WINDOW_KEYS[:5]  # the window columns read from the input; the others are derived
_DERIVED = WINDOW_KEYS[5:]


def new_state() -> dict[str, Any]:
    """The state of a card never seen before."""
    state: dict[str, Any] = {"v": STATE_VERSION, "n": 0, "merchants": []}
    state.update({k: [] for k in WINDOW_KEYS})
    state.update({c: [] for c in CATEGORIES})
    return state


def encode_state(state: dict[str, Any]) -> bytes:
    """Compact JSON bytes of a state (floats round-trip exactly)."""
    return orjson.dumps(state)


def decode_state(data: bytes | str) -> dict[str, Any]:
    """Inverse of :func:`encode_state`; an unknown version starts the card afresh."""
    state = orjson.loads(data)
    return state if isinstance(state, dict) and state.get("v") == STATE_VERSION else new_state()


def card_step(
    state: dict[str, Any] | None, rows: pd.DataFrame
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Features of one card's new transactions and the card's updated state.

    Row k of the output belongs to row k of ``rows``; ``state`` None means a new card.
    """
    updated, matrix = card_step_matrix(state, rows)
    return updated, _frame(rows, matrix)


def card_step_matrix(
    state: dict[str, Any] | None, rows: pd.DataFrame
) -> tuple[dict[str, Any], np.ndarray]:
    """:func:`card_step` without the output frame: (new state, rows x FEATURE_COLUMNS floats).

    For a caller that builds its own output rows (the Spark processor): saves a DataFrame.
    """
    state = new_state() if state is None else state
    if rows.empty:
        return state, np.empty((0, len(FEATURE_COLUMNS)))
    states, out = _step([state], np.zeros(len(rows), dtype=np.int64), rows)
    return states[0], out


def cards_step(
    states: Mapping[str, dict[str, Any] | None], rows: pd.DataFrame
) -> tuple[dict[str, dict[str, Any]], np.ndarray]:
    """Many cards' micro-batch in one vectorised call: the same numbers as :func:`card_step`
    card by card, at a fraction of the per-call cost.

    ``states`` maps a ``user_id`` to its state (missing or None: a new card). Returns the
    updated state of every card present in ``rows`` and the feature matrix (row k = row k
    of ``rows``, columns = FEATURE_COLUMNS).
    """
    if rows.empty:
        return {}, np.empty((0, len(FEATURE_COLUMNS)))
    card, users = pd.factorize(rows["user_id"], sort=False)
    current = [states.get(u) or new_state() for u in users]
    updated, out = _step(current, card.astype(np.int64), rows)
    return dict(zip(users.tolist(), updated, strict=True)), out


def batch_features(tx: pd.DataFrame) -> pd.DataFrame:
    """Features of every transaction of a file, each card from a fresh state.

    Same rows as :func:`card_step` per card (one vectorised pass over all cards); the result
    is aligned with ``tx`` (same index, same order).
    """
    if tx.empty:
        return _frame(tx, np.empty((0, len(FEATURE_COLUMNS))))
    card, n_cards = _card_codes(tx["user_id"])
    inputs = feature_inputs(tx)
    _, out = step_history(History.fresh(n_cards), card, inputs, keep_history=False)
    return _frame(tx, out)


@dataclass
class History:
    """Cards' windows, columnar: card ``c``'s window rows are ``window[k][o[c]:o[c+1]]`` with
    ``o = [0, *cumsum(lengths)]``, oldest first. What the Spark processor stores per bucket."""

    n: np.ndarray  # transactions seen per card (int64)
    lengths: np.ndarray  # window rows per card (int64)
    window: dict[str, np.ndarray]  # each of WINDOW_KEYS, flattened card after card
    memories: dict[str, Memory]  # "merchants" and CATEGORIES

    @classmethod
    def fresh(cls, cards: int) -> History:
        """``cards`` cards never seen before."""
        empty = {k: np.empty(0, dtype=WINDOW_DTYPES[k]) for k in WINDOW_KEYS}
        memories = {k: Memory.empty(cards) for k in MEMORIES}
        zeros = np.zeros(cards, dtype=np.int64)
        return cls(zeros, zeros.copy(), empty, memories)

    @classmethod
    def of_states(cls, states: list[dict[str, Any]]) -> History:
        """From per-card state dicts (:func:`new_state`'s format)."""
        lengths = np.fromiter((len(s["t"]) for s in states), np.int64, len(states))
        window = {k: _stacked(states, k, WINDOW_DTYPES[k]) for k in WINDOW_KEYS}
        memories = {k: Memory.of_lists([s[k] for s in states]) for k in MEMORIES}
        n = np.fromiter((s["n"] for s in states), np.int64, len(states))
        return cls(n, lengths, window, memories)

    def states(self) -> list[dict[str, Any]]:
        """Per-card state dicts (inverse of :meth:`of_states`)."""
        bounds = np.r_[0, np.cumsum(self.lengths)].tolist()
        columns = {k: v.tolist() for k, v in self.window.items()}
        memories = {k: v.lists() for k, v in self.memories.items()}
        out = []
        for c, (lo, hi) in enumerate(zip(bounds, bounds[1:], strict=False)):
            state: dict[str, Any] = {"v": STATE_VERSION, "n": int(self.n[c])}
            state |= {k: columns[k][lo:hi] for k in WINDOW_KEYS}
            state |= {k: v[c] for k, v in memories.items()}
            out.append(state)
        return out


def _step(
    states: list[dict[str, Any]], card: np.ndarray, rows: pd.DataFrame, keep_states: bool = True
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """:func:`step_history` on per-card state dicts."""
    history = History.of_states(states)
    updated, out = step_history(history, card, feature_inputs(rows), keep_history=keep_states)
    return (updated.states() if keep_states else []), out


def step_history(
    history: History, card: np.ndarray, new: Mapping[str, Any], keep_history: bool = True
) -> tuple[History, np.ndarray]:
    """Cards ``0..len(history.n)-1`` (``card`` codes each row; every card has a row):
    window history + new rows (their :func:`feature_inputs`) → (updated history, rows x
    FEATURE_COLUMNS features)."""
    n_rows = len(card)
    cards = len(history.n)
    hist_card = np.repeat(np.arange(cards), history.lengths)
    n_hist = len(hist_card)
    merged: dict[str, Any] = {k: np.concatenate([history.window[k], new[k]]) for k in _W5}
    pad = np.zeros(n_hist, dtype=np.int64)  # window rows need no category: they are not scored
    merged |= {c: None if new[c] is None else np.concatenate([pad, new[c]]) for c in CATEGORIES}
    merged |= {k: np.concatenate([history.window[k], np.zeros(n_rows, np.int64)]) for k in _DERIVED}
    all_card = np.concatenate([hist_card, card])
    order = _card_time_order(all_card, merged["t"])
    batch: dict[str, Any] = {k: None if v is None else v[order] for k, v in merged.items()}
    batch["is_new"] = order >= n_hist
    sorted_card = all_card[order]
    starts = np.flatnonzero(np.r_[True, sorted_card[1:] != sorted_card[:-1]])
    batch["start"] = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    seen = history.n - history.lengths
    batch["prior"] = seen[sorted_card]
    memories = dict(history.memories)
    values = compute_features(batch, memories)
    feats = np.column_stack([values[name] for name in FEATURE_COLUMNS])
    out = np.empty_like(feats)
    out[order[batch["is_new"]] - n_hist] = feats
    if not keep_history:
        return history, out
    # each card keeps its last WINDOW rows (segments are in card order: every card has a row)
    ends = np.r_[starts[1:], len(order)]
    first = np.maximum(ends - WINDOW, starts)
    lengths = ends - first
    offsets = np.r_[0, np.cumsum(lengths)[:-1]]
    keep = np.arange(int(lengths.sum())) - np.repeat(offsets - first, lengths)
    window = {k: batch[k][keep] for k in WINDOW_KEYS}
    n = history.n + np.bincount(card, minlength=cards)
    return History(n, lengths, window, memories), out


def _card_time_order(card: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Row order by card, then event time; stable, so a window row precedes a new row of the
    same time and a late event slots in by its event time.

    One stable sort of ``card << 42 | (t - min t)`` when both fit (cards below 2**21, times
    within 139 years), else numpy's two-key lexsort. The window rows come first and already
    in that order, so the sort (timsort) finds them as one run and merges in the new rows:
    much less work than a lexsort, which sorts every row twice.
    """
    if not len(t):
        return np.zeros(0, dtype=np.intp)
    span = int(t.max()) - int(t.min())
    if span < 1 << _TIME_BITS and int(card.max()) < 1 << (63 - _TIME_BITS):
        return np.argsort((card << _TIME_BITS) | (t - t.min()), kind="stable")
    return np.lexsort((t, card))


_TIME_BITS = 42  # ms: 139 years


def _stacked(states: list[dict[str, Any]], key: str, dtype: Any) -> np.ndarray:
    """One window column of every state, end to end."""
    return np.fromiter(chain.from_iterable(s[key] for s in states), dtype=dtype)


def _card_codes(users: pd.Series) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(users, sort=False)
    return codes.astype(np.int64), len(uniques)


def text_code(value: Any) -> int:
    """The code a text value gets in the features: CRC-32 of its text (the same in every
    process); 0 for a missing value. The source's packed records use it too."""
    return 0 if value is None else zlib.crc32(str(value).encode())


def hash_values(values: pd.Series) -> np.ndarray:
    """:func:`text_code` of each value of a column; 0 for a missing value.

    Each distinct value is hashed once (a file has far fewer merchants than rows).
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    hashed = np.fromiter(map(text_code, uniques.tolist()), np.int64, len(uniques))
    return np.where(codes >= 0, hashed[np.maximum(codes, 0)] if len(hashed) else 0, 0)


def _utc(timestamps: pd.Series) -> pd.Series:
    """A timestamp column as tz-aware UTC (already so in the pipeline: then no copy)."""
    if isinstance(timestamps.dtype, pd.DatetimeTZDtype) and str(timestamps.dtype.tz) == "UTC":
        return timestamps
    return pd.to_datetime(timestamps, utc=True, format="ISO8601")


def _epoch_ms(timestamps: pd.Series) -> np.ndarray:
    """Milliseconds since the epoch of a timestamp column."""
    timestamps = _utc(timestamps)
    return np.asarray(timestamps.array.as_unit("ms").asi8, dtype=np.int64)


def feature_inputs(rows: pd.DataFrame) -> dict[str, Any]:
    """The numpy columns the features read from transactions (what :func:`step_history`
    takes); an absent optional column becomes None (as does one with no value at all)."""
    cols: dict[str, Any] = {
        "t": _epoch_ms(rows["timestamp"]),
        "amount": rows["amount"].to_numpy(dtype=np.float64),
        "lat": rows["latitude"].to_numpy(dtype=np.float64),
        "lon": rows["longitude"].to_numpy(dtype=np.float64),
        "merchant": hash_values(rows["merchant_id"]),
    }
    for name in CATEGORIES:
        column = rows.get(name)
        codes = None if column is None else hash_values(column)
        cols[name] = codes if codes is not None and codes.any() else None
    return cols


def _frame(rows: pd.DataFrame, feats: np.ndarray) -> pd.DataFrame:
    """Output rows: ids, event time, then every feature column in order."""
    ids = pd.DataFrame(
        {
            "transaction_id": rows["transaction_id"].to_numpy(),
            "user_id": rows["user_id"].to_numpy(),
            "event_time": _utc(rows["timestamp"]).array,
        },
        index=rows.index,
    )
    # One float block for the features: far cheaper than one column at a time.
    values = pd.DataFrame(feats, columns=list(FEATURE_COLUMNS), index=rows.index, copy=False)
    return pd.concat([ids, values], axis=1)
