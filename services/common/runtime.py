"""Process-level helpers shared by the hot loops (the Spark source's decode, the scorer)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside the block; the collector's state is restored after.

    A decoded batch allocates a few objects per entry (reply lists, byte strings, records),
    none of them in a cycle, yet their number sets off collections that walk them all again
    and again, a large share of a decode's time. Paused, they are freed by reference counting
    as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def settle_heap() -> None:
    """Freeze (``gc.freeze()``) every object alive now: later collections skip them.

    Called where a Spark Python worker starts a task. PySpark's daemon runs ``gc.collect()``
    in a reused worker after each task, and with pandas, pyarrow and rtad imported a full
    collection walks ~100k objects (~46 ms here) that live as long as the worker; a
    real-time micro-batch runs several tasks, and py-spy found ``gc.collect`` in 63 % of the
    Python workers' samples of a run of 2k-row batches. At a task's start the daemon has just
    collected the previous task's garbage, so what is frozen is what lives on (modules,
    classes, caches); the task's own objects stay collectable. Cheap: the collector splices
    its lists.
    """
    gc.freeze()
