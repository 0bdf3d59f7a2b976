"""Commits scored batches on a thread of their own, one batch behind the scoring.

While Redis executes batch k's commit scripts (server CPU, and a socket wait that releases the
GIL), the worker already decodes and scores batch k+1. The queue holds one batch: the worker
is never more than one batch ahead, and each shard's commit is still one atomic script, so
exactly-once is unchanged (an uncommitted batch is just pending entries).

A batch that waited longer than the claim idle time is abandoned instead of committed: another
worker may already have claimed it, and committing both would double the scores.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from rtad.common.streams import StreamNames
from rtad.scorer.worker.batch import BatchResult
from rtad.scorer.worker.commit_script import commit_shards

log = logging.getLogger(__name__)

FENCE_SHARE = 0.8  # commit only within 80 % of the claim idle time (margin for clock and RTT)


@dataclass
class Job:
    """A scored batch waiting for its commit."""

    result: BatchResult
    model: Any
    read_at: float  # time.monotonic() when the entries were read or claimed
    started: float  # time.perf_counter() when scoring started
    now_ms: int


class CommitThread:
    """One thread committing :class:`Job` s in order; ``on_committed`` runs after each."""

    def __init__(
        self,
        client: redis.Redis,
        names: StreamNames,
        group: str,
        claim_idle_ms: int,
        on_committed: Callable[[Job, float], None],
    ) -> None:
        self.client = client
        self.names = names
        self.group = group
        self.fence_ms = FENCE_SHARE * claim_idle_ms
        self.on_committed = on_committed
        self.error: Exception | None = None
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=1)
        self._thread = threading.Thread(target=self._run, name="rtad-scorer-commit", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        """Queue a batch (waits while one is already queued); re-raises a commit failure."""
        self.raise_failure()
        self._queue.put(job)

    def close(self, timeout: float = 30.0) -> None:
        """Commit what was submitted, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def raise_failure(self) -> None:
        error, self.error = self.error, None
        if error is not None:
            raise error

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                self._commit(job)
            except Exception as exc:  # kept for the worker loop: entries stay pending
                log.warning("commit failed, the batch stays pending: %s", exc)
                self.error = exc
            finally:
                self._queue.task_done()

    def _commit(self, job: Job) -> None:
        waited_ms = (time.monotonic() - job.read_at) * 1000
        if waited_ms > self.fence_ms:
            log.warning("batch took %.0f ms (> claim idle): left to its next owner", waited_ms)
            return
        shards = list(job.result.shards.values())
        commit_shards(self.client, self.names, self.group, shards, job.now_ms)
        self.on_committed(job, time.perf_counter() - job.started)
