"""Prometheus metrics of the scorer (names ``rtad_scorer_<thing>_<unit>``).

They live in the process-wide default registry: the worker and the API of one process share
them, and ``/metrics`` exports them. The end-to-end latency histogram is a custom collector fed
with whole-batch bin counts (see :mod:`rtad.scorer.latency`) instead of one ``observe`` a row.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

import numpy as np
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from rtad.scorer.latency import LATENCY_EDGES_S

BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

TRANSACTIONS_SCORED = Counter(
    "rtad_scorer_transactions_scored_total", "Transactions scored and committed by the worker."
)
ANOMALIES = Counter(
    "rtad_scorer_anomalies_total",
    "Transactions flagged as anomalous, by their first reason code.",
    ["reason"],
)
BATCH_SECONDS = Histogram(
    "rtad_scorer_batch_seconds",
    "Time to decode, score and commit one batch.",
    buckets=BATCH_BUCKETS,
)
# Group-wide figures: one replica at a time exports them (rtad.scorer.worker.group_gauges).
CONSUMER_LAG = Gauge(
    "rtad_scorer_consumer_lag_entries",
    "Feature entries not yet delivered to the scorer group, per shard (exported by one replica).",
    ["shard"],
)
PENDING = Gauge(
    "rtad_scorer_pending_entries",
    "Feature entries delivered to the scorer group but not yet acknowledged, per shard "
    "(exported by one replica).",
    ["shard"],
)
DEADLETTER = Counter(
    "rtad_scorer_deadletter_total",
    "Feature entries dead-lettered (undecodable, invalid features, too many deliveries).",
    ["reason"],
)
OWNERSHIP_LOST = Counter(
    "rtad_scorer_ownership_lost_entries_total",
    "Feature entries found claimed by another consumer at commit (this worker stalled past the "
    "claim idle time): their shard's batch was not committed here, the new owner scores them.",
)
MODEL_INFO = Gauge("rtad_scorer_model_info", "The model in use (value 1).", ["version", "detector"])
DRIFT_PSI = Gauge(
    "rtad_scorer_drift_psi",
    "Population stability index of a feature (or feature='score') against the training data.",
    ["feature"],
)
LABELLED = Counter(
    "rtad_scorer_labelled_total",
    "Labelled transactions scored, by fraud scenario and whether they were flagged.",
    ["scenario", "detected"],
)

LABELS_RECEIVED = Counter(
    "rtad_scorer_labels_received_total",
    "Verdicts accepted by POST /v1/labels and written to the labels stream.",
    ["source", "verdict"],
)
LABELS_REFUSED = Counter(
    "rtad_scorer_labels_refused_total",
    "Verdicts refused by POST /v1/labels as invalid (their batch was refused with them).",
)


class BinnedHistogram(Collector):
    """A histogram whose observations arrive as per-bin counts of a whole batch."""

    def __init__(self, name: str, documentation: str, edges: tuple[float, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.edges = edges
        self._counts = np.zeros(len(edges) + 1, dtype=np.int64)
        self._sum = 0.0
        self._lock = threading.Lock()

    def add(self, counts: np.ndarray, total_seconds: float) -> None:
        with self._lock:
            self._counts += counts
            self._sum += total_seconds

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            cumulative = np.cumsum(self._counts)
            total = self._sum
        buckets = [(_le(edge), float(c)) for edge, c in zip(self.edges, cumulative, strict=False)]
        buckets.append(("+Inf", float(cumulative[-1])))
        family = HistogramMetricFamily(self.name, self.documentation)
        family.add_metric([], buckets, total)
        yield family


def _le(edge: float) -> str:
    return repr(float(edge))


END_TO_END_LATENCY = BinnedHistogram(
    "rtad_scorer_end_to_end_latency_seconds",
    "Ingest (tx entry ID) to scored, per transaction.",
    LATENCY_EDGES_S,
)
REGISTRY.register(END_TO_END_LATENCY)


def declare_reasons(deadletter: Iterable[str], anomaly: Iterable[str]) -> None:
    """Create the series of every known reason at 0, so their panels read 0, not "no data"."""
    for reason in deadletter:
        DEADLETTER.labels(reason=reason)
    for reason in anomaly:
        ANOMALIES.labels(reason=reason)


def set_model_info(version: str, detector: str) -> None:
    """Export exactly one model_info series: the model now in use."""
    MODEL_INFO.clear()
    MODEL_INFO.labels(version=version, detector=detector).set(1)


# Live quality from verdicts and the alert budget (rtad.scorer.quality, rtad.scorer.alert_budget).
# ``model`` is the role, champion or challenger; every replica exports the same figures (they
# are computed from Redis), so dashboards take max() over replicas.
QUALITY_PRECISION = Gauge(
    "rtad_scorer_quality_alert_precision_ratio",
    "Share of the model's alerts with a verdict that were fraud.",
    ["model"],
)
QUALITY_CARD_PRECISION = Gauge(
    "rtad_scorer_quality_card_precision_at_k_ratio",
    "Card Precision@k, mean over the reported days with verdicts.",
    ["model"],
)
QUALITY_RECALL = Gauge(
    "rtad_scorer_quality_reported_fraud_recall_ratio",
    "Share of the frauds reported so far (analyst or chargeback) that the model alerted.",
    ["model"],
)
QUALITY_SCENARIO_RECALL = Gauge(
    "rtad_scorer_quality_scenario_recall_ratio",
    "Recall on reported frauds per fraud scenario (when the scenario is known).",
    ["model", "scenario"],
)
QUALITY_DELAY = Gauge(
    "rtad_scorer_quality_detection_delay_seconds",
    "Median event time from a card's first known fraud to its first alerted fraud.",
    ["model"],
)
QUALITY_REVIEWED = Gauge(
    "rtad_scorer_quality_reviewed_alerts",
    "Alerts of the model that have a verdict.",
    ["model"],
)
QUALITY_VERDICT_STATE = Gauge(
    "rtad_scorer_quality_verdicts",
    "Verdicts kept, by state: judged, held (transaction not scored yet), expired, not_alerted.",
    ["state"],
)
QUALITY_VERDICTS = Counter(
    "rtad_scorer_quality_verdicts_consumed_total",
    "Verdicts read from the labels streams: new, replaced, superseded (older), invalid.",
    ["outcome"],
)
ALERT_THRESHOLD = Gauge(
    "rtad_scorer_alert_threshold",
    "Alert threshold in use per model role and shard (the budget's, or the model's fixed one).",
    ["model", "shard"],
)
ALERT_BUDGET = Gauge(
    "rtad_scorer_alert_budget_per_hour",
    "Configured alerts per hour of event time (all shards); 0 with the fixed threshold.",
)
CHALLENGER_FAILURES = Counter(
    "rtad_scorer_challenger_failures_total",
    "Batches the challenger could not score (the champion's scores are committed anyway).",
)
