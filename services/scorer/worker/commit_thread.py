"""Commits scored batches on threads of their own, behind the scoring.

Two stages, each a thread, in order: the shadow stage runs a batch's shadow work (the
challenger's scores and their operations, :mod:`rtad.scorer.worker.shadow`), then the commit
stage runs the batch's commit scripts. While Redis executes batch k's scripts (server CPU, and a
socket wait that releases the GIL) and the challenger scores batch k+1 (its trees release the
GIL too), the worker already decodes and scores batch k+2. Each stage's queue holds one batch:
the worker is never more than a few batches ahead, and each shard's commit is still one atomic
script, so exactly-once is unchanged (an uncommitted batch is just pending entries).

A batch may wait longer than the claim idle time (a stalled process, a long pause): another
worker may then have claimed its entries. Each shard's script checks that this consumer still
owns them and commits nothing otherwise (:mod:`rtad.scorer.worker.commit_script`); those
shards are counted in ``rtad_scorer_ownership_lost_entries_total`` and left out of the
batch's metrics.
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
from rtad.scorer import metrics
from rtad.scorer.worker.batch import BatchResult, ShardOutput
from rtad.scorer.worker.commit_script import commit_shards

log = logging.getLogger(__name__)


@dataclass
class Job:
    """A scored batch waiting for its commit."""

    result: BatchResult
    model: Any
    read_at: float  # time.monotonic() when the entries were read or claimed
    started: float  # time.perf_counter() when scoring started
    now_ms: int


#: Called after a batch's commit with the job, the shard outputs that were committed, and the
#: seconds from the start of scoring to the end of the commit.
OnCommitted = Callable[[Job, list[ShardOutput], float], None]


class CommitThread:
    """Commits :class:`Job` s in order (shadow stage, then commit stage); ``on_committed``
    runs after each."""

    def __init__(
        self,
        client: redis.Redis,
        names: StreamNames,
        group: str,
        consumer: str,
        on_committed: OnCommitted,
    ) -> None:
        self.client = client
        self.names = names
        self.group = group
        self.consumer = consumer
        self.on_committed = on_committed
        self.error: Exception | None = None
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=1)
        self._ready: queue.Queue[Job | None] = queue.Queue(maxsize=1)
        self._threads = [
            threading.Thread(target=self._prepare_all, name="rtad-scorer-shadow", daemon=True),
            threading.Thread(target=self._run, name="rtad-scorer-commit", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, job: Job) -> None:
        """Queue a batch (waits while one is already queued); re-raises a commit failure."""
        self.raise_failure()
        self._queue.put(job)

    def close(self, timeout: float = 30.0) -> None:
        """Commit what was submitted, then stop the threads."""
        self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def raise_failure(self) -> None:
        error, self.error = self.error, None
        if error is not None:
            raise error

    def _prepare_all(self) -> None:
        """The shadow stage: each batch's shadow work, then on to the commit stage. A batch
        whose shadow work fails is not committed (its entries stay pending)."""
        while True:
            job = self._queue.get()
            if job is not None:
                try:
                    for prepare in job.result.before_commit:
                        prepare()
                except Exception as exc:  # kept for the worker loop: entries stay pending
                    log.warning("shadow work failed, the batch stays pending: %s", exc)
                    self.error = exc
                    continue
            self._ready.put(job)
            if job is None:
                return

    def _run(self) -> None:
        while True:
            job = self._ready.get()
            if job is None:
                return
            try:
                self._commit(job)
            except Exception as exc:  # kept for the worker loop: entries stay pending
                log.warning("commit failed, the batch stays pending: %s", exc)
                self.error = exc

    def _commit(self, job: Job) -> None:
        outputs = job.result.shards
        commits = commit_shards(
            self.client, self.names, self.group, self.consumer, list(outputs.values()), job.now_ms
        )
        lost = [c for c in commits if not c.committed]
        for commit in lost:
            metrics.OWNERSHIP_LOST.inc(commit.not_owned)
            log.warning(
                "shard %d: %d entries were claimed by another consumer after %.1f s; "
                "nothing of the shard's batch committed (the new owner scores them)",
                commit.shard,
                commit.not_owned,
                time.monotonic() - job.read_at,
            )
        lost_shards = {c.shard for c in lost}
        committed = [out for shard, out in outputs.items() if shard not in lost_shards]
        self.on_committed(job, committed, time.perf_counter() - job.started)
