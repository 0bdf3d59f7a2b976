"""The vectorised LRU memory against the row-by-row walk it replaces."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rtad.features.window_memory import Memory, remember


def walk(
    keys: list[int], cards: list[int], first: list[bool], memory: list[list[int]], capacity: int
) -> tuple[list[float], list[float], list[list[int]]]:
    """The specification: an ordered dict per card, least recently used first."""
    memory = [list(m) for m in memory]
    is_new, visits = [0.0] * len(keys), [0.0] * len(keys)
    for j, (key, c, fresh) in enumerate(zip(keys, cards, first, strict=True)):
        seen = dict(zip(memory[c][::2], memory[c][1::2], strict=True))
        if key != 0:
            count = seen.pop(key, 0)
            is_new[j], visits[j] = float(count == 0 and bool(seen) and not fresh), float(count)
            seen[key] = count + 1
            if len(seen) > capacity:
                del seen[next(iter(seen))]
        memory[c] = [x for kv in seen.items() for x in kv]
    return is_new, visits, memory


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[int], list[int], list[bool], list[list[int]], int]:
    capacity = draw(st.integers(1, 6))
    n_cards = draw(st.integers(1, 6))
    memory = []
    for _ in range(n_cards):
        stored = draw(st.lists(st.integers(1, 9), unique=True, max_size=capacity))
        memory.append([x for k in stored for x in (k, draw(st.integers(1, 5)))])
    rows = sorted(
        draw(st.lists(st.tuples(st.integers(0, n_cards - 1), st.integers(0, 9)), max_size=40)),
        key=lambda row: row[0],  # card order; within a card, the drawn order is time order
    )
    first = [draw(st.booleans()) for _ in rows]
    return [k for _, k in rows], [c for c, _ in rows], first, memory, capacity


@settings(max_examples=300, deadline=None)
@given(batches())
def test_vectorised_memory_equals_the_walk(
    case: tuple[list[int], list[int], list[bool], list[list[int]], int],
) -> None:
    keys, cards, first, memory, capacity = case
    want_new, want_visits, want_memory = walk(keys, cards, first, memory, capacity)
    is_new, visits, updated = remember(
        np.array(keys, dtype=np.int64),
        np.array(cards, dtype=np.int64),
        np.array(first, dtype=bool),
        Memory.of_lists(memory),
        capacity,
    )
    assert is_new.tolist() == want_new
    assert visits.tolist() == want_visits
    assert updated.lists() == want_memory


def test_memory_round_trips_through_its_flat_form() -> None:
    lists = [[5, 1, 7, 2], [], [9, 3]]
    memory = Memory.of_lists(lists)
    assert memory.lengths.tolist() == [2, 0, 1]
    assert Memory.of_flat(memory.flat(), 2 * memory.lengths).lists() == lists
