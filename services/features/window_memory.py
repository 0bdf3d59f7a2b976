"""Per-card LRU memories for the novelty features (:mod:`rtad.features.card_features`).

A card remembers its last few distinct merchants (and values of each optional category) with
their visit counts; :func:`remember` answers, for every row of many cards at once, whether
its key is new to its card and how often the card used it before, and returns the memories
after the rows. Pure numpy; nothing here knows about features. (The windowed statistics are
the compiled loop of :mod:`rtad.features.window_kernel`.)
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

import numpy as np


@dataclass
class Memory:
    """Per-card LRU memories, columnar: card ``c`` remembers ``keys[o[c]:o[c+1]]`` with their
    ``visits`` (``o = [0, *cumsum(lengths)]``), least recently used first."""

    keys: np.ndarray  # int64, non-negative and below 2**32 (CRC-32 codes)
    visits: np.ndarray  # int64
    lengths: np.ndarray  # int64, entries per card

    @classmethod
    def empty(cls, cards: int) -> Memory:
        none = np.empty(0, dtype=np.int64)
        return cls(none, none.copy(), np.zeros(cards, dtype=np.int64))

    @classmethod
    def of_flat(cls, values: np.ndarray, lengths: np.ndarray) -> Memory:
        """From interleaved ``[key, visits, key, visits, ...]`` values, card after card."""
        values = np.asarray(values, dtype=np.int64)
        return cls(values[0::2], values[1::2], np.asarray(lengths, dtype=np.int64) // 2)

    @classmethod
    def of_lists(cls, lists: list[list[int]]) -> Memory:
        """From a flat ``[key, visits, ...]`` list per card."""
        lengths = np.fromiter(map(len, lists), np.int64, len(lists))
        values = np.fromiter(chain.from_iterable(lists), np.int64, int(lengths.sum()))
        return cls.of_flat(values, lengths)

    def flat(self) -> np.ndarray:
        """Interleaved ``[key, visits, ...]`` values, card after card (2 * lengths each)."""
        out = np.empty(2 * len(self.keys), dtype=np.int64)
        out[0::2], out[1::2] = self.keys, self.visits
        return out

    def lists(self) -> list[list[int]]:
        """A flat ``[key, visits, ...]`` list per card (inverse of :meth:`of_lists`)."""
        flat = self.flat().tolist()
        bounds = np.r_[0, np.cumsum(2 * self.lengths)].tolist()
        return [flat[lo:hi] for lo, hi in zip(bounds, bounds[1:], strict=False)]


def remember(
    keys: np.ndarray, card: np.ndarray, first: np.ndarray, memory: Memory, capacity: int
) -> tuple[np.ndarray, np.ndarray, Memory]:
    """(is new, previous visits) per row, and the memories after the rows.

    Rows are in (card, time) order; ``card`` indexes ``memory``'s cards; key 0 is a missing
    value (neither new nor remembered). A key is new when the card remembers other keys but
    not this one, and the row is not the card's first (``first``). A card that would forget
    (more than ``capacity`` distinct keys) takes the exact LRU walk, row by row; the others
    are done for all cards at once: without forgetting, a key's visits are its stored visits
    plus its earlier rows, and the new order is the untouched keys, then the touched ones by
    their last row.
    """
    n, cards = len(keys), len(memory.lengths)
    is_new, visits = np.zeros(n), np.zeros(n)
    rows = np.flatnonzero(keys != 0)
    rkey, rcard = keys[rows].astype(np.int64), card[rows].astype(np.int64)
    mem_card = np.repeat(np.arange(cards, dtype=np.int64), memory.lengths)
    mem_pair = (mem_card << 32) | memory.keys
    row_pair = (rcard << 32) | rkey
    # stored visits of each row's key
    order_m = np.argsort(mem_pair, kind="stable")
    sorted_m = mem_pair[order_m]
    at = np.minimum(np.searchsorted(sorted_m, row_pair), max(len(sorted_m) - 1, 0))
    hit = (sorted_m[at] == row_pair) if len(sorted_m) else np.zeros(len(rows), dtype=bool)
    stored = np.where(hit, memory.visits[order_m][at] if len(sorted_m) else 0, 0)
    # earlier rows of the same key (rows are in card, time order)
    o = np.argsort(row_pair, kind="stable")
    sp = row_pair[o]
    head = np.r_[True, sp[1:] != sp[:-1]] if len(sp) else np.zeros(0, dtype=bool)
    group = np.cumsum(head) - 1
    starts = np.flatnonzero(head)
    before = np.empty(len(rows), dtype=np.int64)
    before[o] = np.arange(len(sp)) - starts[group]
    # a card forgets when its stored keys plus the rows' keys it does not store pass capacity
    unstored = sp[head & ~hit[o]] >> 32
    slow = memory.lengths + np.bincount(unstored, minlength=cards) > capacity
    # distinct keys the card knows before each row: stored ones + new ones seen earlier
    fresh_key = (before == 0) & ~hit
    cum = np.cumsum(fresh_key) - fresh_key
    card_head = np.r_[True, rcard[1:] != rcard[:-1]] if len(rows) else np.zeros(0, dtype=bool)
    card_start = np.flatnonzero(card_head)
    base = np.repeat(cum[card_start], np.diff(np.r_[card_start, len(rows)]))
    known = memory.lengths[rcard] + cum - base
    seen = stored + before
    fast = ~slow[rcard]
    is_new[rows] = np.where(fast, (seen == 0) & (known > 0) & ~first[rows], 0.0)
    visits[rows] = np.where(fast, seen, 0.0)
    # the fast cards' new memories: untouched keys first (stored order), then by last row
    touched = np.zeros(len(mem_pair), dtype=bool)
    touched[order_m[at[hit]]] = True  # the stored (card, key) pairs some row looked up
    untouched = ~touched & ~slow[mem_card]
    ends = np.append(starts[1:], len(sp))[: len(starts)] - 1
    last_row = o[ends]  # each touched (card, key)'s last row, an index into ``rows``
    keep_touched = fast[last_row]
    last_row = last_row[keep_touched]
    parts_card = [mem_card[untouched], rcard[last_row]]
    parts_phase = [np.zeros(int(untouched.sum()), np.int64), np.ones(len(last_row), np.int64)]
    parts_order = [np.flatnonzero(untouched), last_row]
    parts_key = [memory.keys[untouched], rkey[last_row]]
    group_size = np.diff(np.r_[starts, len(sp)])[keep_touched]
    parts_visits = [memory.visits[untouched], stored[last_row] + group_size]
    if slow.any():
        walked = _walk(keys, card, first, memory, capacity, np.flatnonzero(slow), is_new, visits)
        for part, values in zip(
            (parts_card, parts_phase, parts_order, parts_key, parts_visits), walked, strict=True
        ):
            part.append(values)
    all_card, phase, order = map(np.concatenate, (parts_card, parts_phase, parts_order))
    sort = np.lexsort((order, phase, all_card))
    updated = Memory(
        np.concatenate(parts_key)[sort],
        np.concatenate(parts_visits)[sort],
        np.bincount(all_card, minlength=cards).astype(np.int64),
    )
    return is_new, visits, updated


def _walk(
    keys: np.ndarray,
    card: np.ndarray,
    first: np.ndarray,
    memory: Memory,
    capacity: int,
    cards: np.ndarray,
    is_new: np.ndarray,
    visits: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """The exact LRU walk for ``cards``: fills their rows of ``is_new``/``visits`` and returns
    their memories as (card, phase 0, order, key, visits) arrays."""
    bounds = np.r_[0, np.cumsum(memory.lengths)]
    out: list[tuple[int, int, int]] = []  # (card, key, visits) in LRU order
    for c in cards.tolist():
        lo, hi = bounds[c], bounds[c + 1]
        seen = dict(zip(memory.keys[lo:hi].tolist(), memory.visits[lo:hi].tolist(), strict=True))
        for j in np.flatnonzero(card == c).tolist():
            key = int(keys[j])
            if key == 0:  # a missing value: neither new nor remembered
                continue
            count = seen.pop(key, 0)
            is_new[j], visits[j] = (count == 0 and bool(seen) and not first[j]), count
            seen[key] = count + 1
            if len(seen) > capacity:
                del seen[next(iter(seen))]  # least recently used
        out += [(c, k, v) for k, v in seen.items()]
    table = np.array(out, dtype=np.int64).reshape(-1, 3)
    return (
        table[:, 0],
        np.zeros(len(table), np.int64),
        np.arange(len(table), dtype=np.int64),
        table[:, 1],
        table[:, 2],
    )
