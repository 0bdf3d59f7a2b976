"""Commits scored batches on a thread of their own, one batch behind the scoring.

While Redis executes batch k's commit scripts (server CPU, and a socket wait that releases the
GIL), the worker already decodes and scores batch k+1. The queue holds one batch: the worker
is never more than one batch ahead, and each shard's commit is still one atomic script, so
exactly-once is unchanged (an uncommitted batch is just pending entries).

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
    """One thread committing :class:`Job` s in order; ``on_committed`` runs after each."""

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
        for prepare in job.result.before_commit:  # shadow work (rtad.scorer.worker.shadow)
            prepare()
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
