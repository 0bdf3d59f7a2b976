"""Process-level helpers shared by the hot loops (the Spark source's decode, the scorer)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside the block; the collector's state is restored after.

    A decoded batch allocates a few objects per entry (reply lists, byte strings, records),
    none of them in a cycle, yet their number sets off collections that walk them all again,
    and again: ~40% of the Spark source's decode, ~1 µs a row in the scorer at batches of 5k
    (measured; see the README). Paused, they are freed by reference counting as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
