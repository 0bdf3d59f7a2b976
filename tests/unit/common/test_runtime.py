"""The garbage-collector helpers of the hot loops and of Spark's Python workers."""

from __future__ import annotations

import gc
import weakref

from rtad.common.runtime import paused_gc, settle_heap


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_settled_objects_leave_the_collectors_sight_and_new_garbage_is_still_collected() -> None:
    kept = [Node() for _ in range(1000)]
    try:
        settle_heap()
        assert gc.get_freeze_count() >= len(kept)
        assert not any(gc.is_tracked(k) and k in gc.get_objects(generation=2) for k in kept[:3])
        garbage = cycle()  # made after the freeze: a cycle only the collector frees
        gc.collect()
        assert garbage() is None
    finally:
        gc.unfreeze()


def test_paused_gc_restores_the_collector() -> None:
    with paused_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
