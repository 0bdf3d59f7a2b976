"""Clean stop on SIGINT/SIGTERM for every long-running command: the signal sets an event, and
the command's loop finishes what it has in hand (a record, a batch), flushes and returns.

    with stop_on_signals() as stop:
        while not stop.is_set():
            ...
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType


class StopRequested(Exception):
    """Raised from inside a wait (backpressure) when SIGINT/SIGTERM asked the loop to stop."""


def interruptible_sleep(stop: threading.Event | None) -> Callable[[float], None]:
    """A ``sleep`` that ends early, raising :class:`StopRequested`, once ``stop`` is set.

    Backpressure may wait for a reader indefinitely; a pod being terminated must not.
    """
    if stop is None:
        return time.sleep

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise StopRequested

    return sleep


@contextmanager
def stop_on_signals(
    announce: Callable[[str], None] | None = None,
) -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM while inside the block; the previous handlers are
    restored on leaving it. ``announce`` gets the signal's name when one arrives.

    Only the main thread can handle signals: elsewhere the event is returned unwired.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def _handler(signum: int, frame: FrameType | None) -> None:
        if announce is not None:
            announce(signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
