"""The streaming job's wiring: Redis source → per-card features → Redis sink.

``readStream``/``writeStream`` appear only here. :func:`run` is what ``rtad stream`` calls:
it checks the checkpoint directory, starts Spark and the metrics, runs the query until it
ends (``--available-now``) or until SIGTERM / Ctrl-C. Those stop it when the running batch
ends, waiting up to ``STOP_GRACE_S``; a batch still running then (batches back to back leave
no gap to stop in) is aborted, and the next start redoes it from the checkpoint.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from rtad.common.errors import RtadError
from rtad.common.feature_entry import register_feature_set
from rtad.common.redis_streams import connect
from rtad.common.stopping import stop_on_signals
from rtad.streaming.feature_sink import SinkTarget
from rtad.streaming.processor import CardFeatureProcessor, StateLayout
from rtad.streaming.records import BUCKET_COLUMN, COUNT_COLUMN
from rtad.streaming.settings import StreamSettings

log = logging.getLogger(__name__)
QUERY_NAME = "rtad-features"
#: The observed metric counting a batch's transactions: Spark's own row counts are the
#: source's rows, one per state bucket of a chunk read (:func:`rtad.streaming.records.by_bucket`).
INPUT_METRIC = "rtad_input"
STOP_GRACE_S = 30.0


def prepare_checkpoint(path: Path) -> Path:
    """Create a missing checkpoint directory; refuse an unusable one with one clear line."""
    path = path.expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise RtadError(f"checkpoint dir {path} is not a directory") from None
    except OSError as exc:
        raise RtadError(f"cannot create checkpoint dir {path}: {exc.strerror}") from None
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise RtadError(f"checkpoint dir {path} is not readable and writable by this user")
    return path


def source_options(settings: StreamSettings) -> dict[str, str]:
    """Options shared by the Redis source and sink (the URL's option name makes Spark redact it)."""
    return {
        "secret_redis_url": settings.redis_url.get_secret_value(),
        "prefix": settings.stream_prefix,
        "shards": str(settings.shards),
    }


def sink_target(settings: StreamSettings) -> SinkTarget:
    """Where the processor writes the features."""
    return SinkTarget(settings.redis_url.get_secret_value(), settings.streams)


def start_query(
    spark: Any, settings: StreamSettings, checkpoint: Path, layout: StateLayout | None = None
) -> Any:
    """Start the feature query; ``layout`` (the state layout) defaults to the settings'."""
    layout = layout or StateLayout(buckets=settings.state_buckets, slots=settings.state_slots)
    options = source_options(settings)
    transactions = (
        spark.readStream.format("rtad_redis")
        .options(**options)
        .option("maxRecordsPerBatch", str(settings.max_records_per_batch))
        .option("splitRows", str(settings.split_rows))
        .option("startingOffsets", settings.starting_offsets)
        .option("stateBuckets", str(layout.buckets))
        .load()
    )
    ttl_ms = int(settings.state_ttl_hours * 3_600_000)
    from pyspark.sql import functions as F  # noqa: N812 (Spark's own convention)

    # the source keys its rows by bucket already; a batch's transactions are counted here
    keyed = transactions.observe(INPUT_METRIC, F.sum(COUNT_COLUMN).alias("rows"))
    features = keyed.groupBy(BUCKET_COLUMN).transformWithStateInPandas(
        statefulProcessor=CardFeatureProcessor(
            layout, ttl_ms, sink_target(settings), cache=_cache_dir(settings)
        ),
        outputStructType=layout.output_ddl(),
        outputMode="Append",
        timeMode="ProcessingTime",
    )
    # the processor writes the feature entries itself (rtad.streaming.feature_sink): the
    # query's sink only drives the batches and their checkpoint. Readers find the features'
    # names by the set's id.
    client = connect(settings.redis_url.get_secret_value())
    try:
        register_feature_set(client, settings.stream_prefix, layout.columns)
    finally:
        client.close()
    writer = (
        features.writeStream.format("noop")
        .option("checkpointLocation", str(checkpoint))
        .queryName(QUERY_NAME)
    )
    if settings.available_now:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=settings.trigger_interval)
    return writer.start()


def _cache_dir(settings: StreamSettings) -> str | bool:
    """The processor's ``cache``: off, the executors' temp dir, or a directory."""
    if not settings.state_cache:
        return False
    return str(settings.state_cache_dir) if settings.state_cache_dir else True


def input_rows(progress: Any) -> int:
    """Transactions a micro-batch read, from its progress report (0 if it read none)."""
    observed = progress.observedMetrics.get(INPUT_METRIC) if progress.observedMetrics else None
    rows = observed["rows"] if observed is not None else None
    return int(rows or 0)


def run(settings: StreamSettings, layout: StateLayout | None = None) -> None:
    """Run the job until it ends or is asked to stop; one-line errors for expected failures."""
    checkpoint = prepare_checkpoint(settings.checkpoint_dir)
    client = connect(settings.redis_url.get_secret_value())
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.errors import PySparkException

    from rtad.streaming import metrics
    from rtad.streaming.session import build_session

    spark = build_session(settings)
    if settings.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port)
    spark.streams.addListener(
        metrics.MetricsListener(spark, metrics.RedisCounters(client, settings.streams))
    )
    try:
        query = start_query(spark, settings, checkpoint, layout)
    except PySparkException as exc:
        spark.stop()
        raise RtadError(f"cannot start the streaming query: {_first_line(exc)}") from None
    log.info("rtad stream: query %s started (checkpoint %s)", query.id, checkpoint)
    with stop_on_signals(_announce_stop) as stop:
        try:
            while query.isActive and not stop.is_set():
                query.awaitTermination(0.5)
            if stop.is_set():
                stop_after_batch(query)
            _raise_failure(query)
        finally:
            spark.stop()


def stop_after_batch(query: Any, grace_s: float = STOP_GRACE_S) -> None:
    """Stop the query between two micro-batches, or after ``grace_s`` abort the running one
    (the next start redoes it from the checkpoint; the sink writes none of its rows twice)."""
    deadline = time.monotonic() + grace_s
    while query.isActive and query.status.get("isTriggerActive") and time.monotonic() < deadline:
        time.sleep(0.1)
    query.stop()


def _announce_stop(signal_name: str) -> None:
    log.info("rtad stream: %s received, stopping when the running batch ends", signal_name)


def _raise_failure(query: Any) -> None:
    error = query.exception()
    if error is not None:
        raise RtadError(f"streaming query failed: {_first_line(error)}")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:500] if text else type(error).__name__
