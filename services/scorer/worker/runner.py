"""The worker's thread inside ``rtad serve``: connect (with backoff), then consume until stopped.

An unreachable Redis at start is a configuration error and ``rtad serve`` exits with one line
(:func:`check_redis`). A wrong password is different: the process stays up, says so on
``/readyz`` and in one log line per attempt, and retries with exponential backoff — a crash
loop would only hammer Redis with failing AUTHs and hide the message in restarts.
"""

from __future__ import annotations

import logging
import threading

import redis

from rtad.common.redis_streams import RedisCredentialsRefused, RedisUnavailable, connect
from rtad.scorer.model_holder import ModelHolder
from rtad.scorer.settings import ScorerSettings
from rtad.scorer.worker.faults import FaultPlan
from rtad.scorer.worker.loop import ScoringWorker

log = logging.getLogger(__name__)

FIRST_RETRY_S = 1.0
MAX_RETRY_S = 60.0


def check_redis(url: str, attempts: int = 5) -> str | None:
    """None if Redis answers; the refusal message on bad credentials; raises if unreachable."""
    try:
        connect(url, attempts=attempts).close()
    except RedisCredentialsRefused as exc:
        return str(exc)
    return None


class WorkerRunner:
    """Owns the worker thread: connects with backoff, runs the worker, stops it on request."""

    def __init__(self, settings: ScorerSettings, holder: ModelHolder) -> None:
        self.settings = settings
        self.holder = holder
        self.worker: ScoringWorker | None = None
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="rtad-scorer-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current batch is committed; wait for the thread."""
        self._stop.set()
        if self.worker is not None:
            self.worker.stop()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _main(self) -> None:
        url = self.settings.redis_url.get_secret_value()
        faults = FaultPlan.parse(self.settings.fault_injection, self.settings.fault_marker)
        wait = FIRST_RETRY_S
        while not self._stop.is_set():
            try:
                client = connect(url, attempts=1)
                self.worker = ScoringWorker(client, self.settings, self.holder, faults)
            except (RedisUnavailable, redis.RedisError) as exc:
                self.last_error = str(exc)
                log.error("scorer worker cannot start: %s; retrying in %.0fs", exc, wait)
                self._stop.wait(wait)
                wait = min(wait * 2, MAX_RETRY_S)
                continue
            self.last_error = None
            if self._stop.is_set():  # stop() came while we were connecting
                self.worker.stop()
            self.worker.run()
            return
