"""Reads the worker's next batch on a thread of its own while the current one is scored.

With commits already one batch behind (:mod:`rtad.scorer.worker.commit_thread`), the main
thread would still wait for every XREADGROUP reply, which Redis takes a while to build for a
large batch, and score nothing meanwhile. The prefetcher overlaps that wait with scoring. It
reads only when asked and holds at most one batch, so at any time the worker has at most two
delivered batches in hand: the one it scores and the one read ahead. On SIGTERM the worker
finishes and acknowledges both, then exits (nothing it was delivered is left pending).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

#: ``(groups, read_at)``: a read's reply and ``time.monotonic()`` when it was sent.
Read = tuple[list[Any], float]


class Prefetcher:
    """One background read at a time: :meth:`request` starts it, :meth:`take` collects it."""

    def __init__(self, read: Callable[[], list[Any]]) -> None:
        self._read = read
        self._requests: queue.Queue[bool] = queue.Queue(maxsize=1)
        self._results: queue.Queue[Read | BaseException] = queue.Queue(maxsize=1)
        self.pending = False  # a read was requested and not taken yet
        self._thread: threading.Thread | None = None  # started by the first request

    def request(self) -> None:
        """Start reading the next batch (no-op if a read is already pending)."""
        if not self.pending:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="rtad-scorer-read", daemon=True
                )
                self._thread.start()
            self.pending = True
            self._requests.put(True)

    def take(self) -> Read:
        """The requested batch (waiting for it); a read's exception is raised here."""
        if not self.pending:
            self.request()
        result = self._results.get()
        self.pending = False
        if isinstance(result, BaseException):
            raise result
        return result

    def close(self) -> None:
        """Stop the thread (a pending read is left to finish: its entries stay pending)."""
        if self._thread is not None:
            self._requests.put(False)
            self._thread.join(timeout=5.0)
            self._thread = None

    def _run(self) -> None:
        while self._requests.get():
            read_at = time.monotonic()
            try:
                self._results.put((self._read(), read_at))
            except BaseException as exc:  # handed to the worker's thread, which handles it
                self._results.put(exc)
