"""The batch loop: consumer group ``scorer`` on ``rtad:features:{s}`` → scores and alerts.

One loop: ``XREADGROUP COUNT n BLOCK ms`` over every shard, one ``model.score(X)`` for the
whole batch, then per shard ONE atomic script with the scores, the alerts, the dead-letters
and the XACK (:mod:`rtad.scorer.worker.commit_script`), so a crash can neither double nor
lose a score. Every ``claim_interval_s`` it takes over what dead consumers left pending
(``XAUTOCLAIM`` after ``claim_idle_ms``); an entry delivered more than ``max_deliveries``
times is dead-lettered. Several replicas share the group (consumer name = pod/host + pid).
Commits run one batch behind on their own thread (:mod:`rtad.scorer.worker.commit_thread`)
and the next batch is read while the current one is scored
(:mod:`rtad.scorer.worker.prefetch`), so Redis works while the worker scores. On SIGTERM the
worker stops reading, finishes and acknowledges what it was delivered (the current batch and
the one read ahead), then the loop returns.

    python -m rtad.scorer.worker      # a worker without the HTTP API (settings from RTAD_*)
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np
import redis

from rtad.common.errors import RtadError
from rtad.common.feature_entry import FeatureSets
from rtad.common.runtime import paused_gc
from rtad.common.stopping import stop_on_signals
from rtad.common.streams import SCORER_GROUP
from rtad.ml.reasons import CODES
from rtad.scorer import metrics
from rtad.scorer.latency import N_BINS
from rtad.scorer.model_holder import ModelHolder
from rtad.scorer.settings import ScorerSettings
from rtad.scorer.worker.batch import NO_CODE, ShardOutput, build_batch
from rtad.scorer.worker.commit_thread import CommitThread, Job
from rtad.scorer.worker.decode import DEADLETTER_CODES, ShardEntries
from rtad.scorer.worker.drift import DriftMonitor
from rtad.scorer.worker.faults import FaultPlan
from rtad.scorer.worker.feature_reader import FeatureReader
from rtad.scorer.worker.maintenance import Maintenance
from rtad.scorer.worker.prefetch import Prefetcher
from rtad.scorer.worker.shadow_state import ShadowState

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 10.0
SUSPECT_DELIVERIES = 3  # claimed entries delivered this often are scored one at a time
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def tune_process(blas_threads: int) -> None:
    """Set up a long-running scoring process.

    - ``gc.freeze()``: the model and the libraries live as long as the process; without it
      every full collection walks them again, and each batch allocates several objects a row,
      so full collections come often.
    - BLAS threads: OpenBLAS' idle threads spin for batches too small to gain from them, and
      they take the core Redis needs; OpenMP's (scikit-learn's gradient boosting) alike.
    """
    from threadpoolctl import threadpool_limits

    gc.freeze()
    threadpool_limits(limits=blas_threads, user_api="blas")
    threadpool_limits(limits=blas_threads, user_api="openmp")  # gradient boosting, alike


class ScoringWorker:
    """Consumes, scores and commits until :meth:`stop` (or SIGTERM in :func:`main`)."""

    def __init__(
        self,
        client: redis.Redis,
        settings: ScorerSettings,
        holder: ModelHolder,
        faults: FaultPlan | None = None,
        stop_event: threading.Event | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.names = settings.streams
        self.holder = holder
        self.faults = faults or FaultPlan()
        self.reader = FeatureReader(
            client, self.names, "features", SCORER_GROUP, settings.consumer_name
        )
        #: the feature sets of entries of encoding 2, read from Redis when first met
        self.feature_sets = FeatureSets.from_redis(client, self.names.prefix)
        self.maintenance = Maintenance(client, self.reader, settings)
        self.commit_thread = CommitThread(
            client, self.names, SCORER_GROUP, settings.consumer_name, self._on_committed
        )
        self.prefetcher = Prefetcher(
            lambda: self.reader.read_groups(self.settings.batch_count, self.settings.block_ms)
        )
        self.shadow = ShadowState(client, settings, holder)
        metrics.declare_reasons(DEADLETTER_CODES, (*CODES, NO_CODE))
        #: set by :meth:`stop` (or by SIGTERM when :func:`main` passes its event)
        self.stop_event = stop_event or threading.Event()
        self.batches = 0
        self.scored = 0
        self._drift: tuple[str, DriftMonitor] | None = None
        self._next_claim = 0.0
        self._busy = False

    def stop(self) -> None:
        """Ask the loop to return after the current batch is committed."""
        self.stop_event.set()

    def run(self) -> None:
        """Loop until stopped; Redis outages are waited out with backoff, never a crash."""
        log.info("worker %s consuming %s", self.settings.consumer_name, ", ".join(self.reader.keys))
        tune_process(self.settings.blas_threads)
        backoff = 0.5
        while not self.stop_event.is_set():
            try:
                self.step()
                backoff = 0.5
            except (redis.ConnectionError, redis.TimeoutError, redis.AuthenticationError) as exc:
                log.warning("Redis unavailable (%s); retrying in %.1fs", exc, backoff)
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            except Exception:  # a bug must not kill the worker: entries stay pending, get claimed
                log.exception("worker step failed; retrying in %.1fs", backoff)
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
        self.close()
        log.info("worker %s stopped after %d batches", self.settings.consumer_name, self.batches)

    def close(self) -> None:
        """Score the batch read ahead (if any), commit what is in hand, stop the threads."""
        if self.prefetcher.pending:
            try:
                groups, read_at = self.prefetcher.take()
                if groups:
                    self.process(groups, read_at)
            except Exception as exc:  # its entries stay pending: another worker claims them
                log.warning("batch read ahead not scored (%s): it stays pending", exc)
        self.prefetcher.close()
        self.commit_thread.close()
        try:
            self.maintenance.gauges.release()
        except redis.RedisError as exc:  # the lease expires by itself
            log.warning("gauge lease not released (%s)", exc)
        try:
            self.commit_thread.raise_failure()
        except Exception as exc:  # the entries stay pending: another worker will claim them
            log.warning("last batch not committed (%s): it stays pending", exc)

    def step(self) -> int:
        """Claim stale entries when due, maintain when due, then read and score one batch."""
        done = 0
        if time.monotonic() >= self._next_claim:
            done += self.claim_stale()
            self._next_claim = time.monotonic() + self.settings.claim_interval_s
        if self.maintenance.run_if_due() and self._drift is not None:
            self._drift[1].export()
        self.shadow.poll_labels()
        if self.stop_event.is_set():
            return done
        # Busy (the last read found entries): no cyclic GC until this batch's reply is freed.
        # Idle: the collector stays on while XREADGROUP blocks (the API shares the process).
        with paused_gc() if self._busy else nullcontext():
            groups, read_at = self.prefetcher.take()
            self._busy = bool(groups)
            if groups:
                if not self.stop_event.is_set():
                    self.prefetcher.request()  # the next batch is read while this one is scored
                done += self.process(groups, read_at)
            del groups  # the reply's lists die before the collector could walk them
        return done

    def claim_stale(self) -> int:
        """Take over entries pending longer than the claim idle time; dead-letter exhausted ones."""
        done = 0
        for shard in range(self.names.shards):
            cursor = b"0-0"
            while not self.stop_event.is_set():
                read_at = time.monotonic()
                cursor, entries = self.reader.claim(
                    shard, self.settings.claim_idle_ms, self.settings.batch_count, cursor
                )
                if entries:
                    log.info("claimed %d stale entries of shard %d", len(entries), shard)
                    done += self._process_claimed(shard, entries, read_at)
                if cursor in (b"0-0", "0-0"):
                    break
        return done

    def _process_claimed(self, shard: int, entries: Sequence[Any], read_at: float) -> int:
        """Exhausted entries are dead-lettered; suspects (failed twice) are scored one by one.

        An entry that crashes the worker takes its whole batch down with it: scoring the
        suspects alone keeps its neighbours from reaching the delivery limit with it.
        """
        counts = self.reader.delivery_counts(self.reader.keys[shard], [e[0] for e in entries])
        limit = self.settings.max_deliveries
        exhausted = {(shard, eid) for eid, n in counts.items() if n > limit}
        suspect = {eid for eid, n in counts.items() if SUSPECT_DELIVERIES <= n <= limit}
        regular = [e for e in entries if e[0] not in suspect]
        done = self.process([(shard, regular)], read_at, exhausted) if regular else 0
        for entry in entries:
            if entry[0] in suspect and not self.stop_event.is_set():
                done += self.process([(shard, [entry])], read_at)
        return done

    def process(
        self,
        groups: list[ShardEntries],
        read_at: float,
        exhausted: set[tuple[int, bytes]] | None = None,
    ) -> int:
        """Score one batch with the model of this moment; the commit thread commits it."""
        started = time.perf_counter()
        champion, challenger = self.holder.models  # once per batch: swaps apply next batch
        model = self.faults.wrap(champion)
        now_ms = int(time.time() * 1000)
        limit = self.settings.max_deliveries
        result = build_batch(
            groups,
            model,
            now_ms,
            self.feature_sets,
            exhausted or (),
            f"not scored after {limit} deliveries",
            self.shadow.for_batch(challenger),
        )
        self.batches += 1
        self.faults.before_commit(self.batches)
        self.commit_thread.submit(Job(result, model, read_at, started, now_ms))
        return result.scored

    def _on_committed(self, job: Job, committed: list[ShardOutput], seconds: float) -> None:
        """Metrics and drift of a batch's committed shards (runs on the commit thread)."""
        result, model = job.result, job.model
        self.shadow.after_commit(result)  # the thresholds the shard's next batch uses
        scored = sum(out.scored for out in committed)
        self.scored += scored
        metrics.TRANSACTIONS_SCORED.inc(scored)
        metrics.BATCH_SECONDS.observe(seconds)
        codes: Counter[str] = Counter()
        labelled: Counter[tuple[str, bool]] = Counter()
        latency_counts = np.zeros(N_BINS, dtype=np.int64)
        latency_sum_s = 0.0
        for out in committed:
            codes.update(out.anomaly_codes)
            labelled.update(out.labelled)
            latency_counts += out.latency_counts
            latency_sum_s += out.latency_sum_s
            for _id, code, _reason, _payload in out.deadletters:
                metrics.DEADLETTER.labels(reason=code).inc()
        for code, n in codes.items():
            metrics.ANOMALIES.labels(reason=code).inc(n)
        metrics.END_TO_END_LATENCY.add(latency_counts, latency_sum_s)
        for (scenario, detected), n in labelled.items():
            metrics.LABELLED.labels(scenario=scenario, detected=str(detected).lower()).inc(n)
        if len(committed) == len(result.shards):  # rows another worker scores count there
            self.drift_for(model).update(result.X, result.scores)

    def drift_for(self, model: Any) -> DriftMonitor:
        """The drift monitor of ``model`` (a new one when the model changed)."""
        if self._drift is None or self._drift[0] != model.version:
            monitor = DriftMonitor.for_model(
                model.card, model.feature_names, self.settings.drift_window_rows
            )
            self._drift = (model.version, monitor)
        return self._drift[1]


def main() -> None:
    """Run one worker process (no HTTP API) until SIGTERM/SIGINT; errors as one line."""
    from rtad.common.redis_streams import connect

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    with stop_on_signals(lambda name: log.info("%s: finishing the batches in hand", name)) as stop:
        try:
            settings = ScorerSettings()
            faults = FaultPlan.parse(settings.fault_injection, settings.fault_marker)
            holder = ModelHolder(settings.model_path, challenger_path=settings.challenger_path)
            client = connect(settings.redis_url.get_secret_value())
            worker = ScoringWorker(client, settings, holder, faults, stop)
        except RtadError as exc:
            sys.stderr.write(f"rtad worker: error: {exc}\n")
            sys.exit(exc.exit_code)
        worker.run()


if __name__ == "__main__":
    main()
