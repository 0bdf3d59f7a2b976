"""The job's SparkSession: small and quiet on a laptop, metrics under a fixed namespace."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from rtad.streaming.settings import StreamSettings

ROCKSDB_PROVIDER = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
#: Writes checkpoint files with Hadoop's FileSystem API (see :func:`spark_conf`).
CHECKPOINT_FILE_MANAGER = (
    "org.apache.spark.sql.execution.streaming.checkpointing.FileSystemBasedCheckpointFileManager"
)
METRICS_NAMESPACE = "rtad"
#: JVM options of the driver and executors (see :func:`spark_conf`).
JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseParallelGC"
#: Loggers that warn at every new card or every few batches about normal conditions.
QUIET_LOGGERS = (
    "org.apache.spark.sql.execution.python.streaming.TransformWithStateInPySparkStateServer",
    "org.apache.spark.sql.execution.streaming.state.StateStoreCoordinator",
)


def spark_conf(settings: StreamSettings) -> dict[str, str]:
    """Every Spark setting the job relies on (also what a test session uses)."""
    conf = {
        "spark.app.name": "rtad-stream",
        # the stateful stage's tasks: a 2-core box gains nothing from 200 tiny tasks
        "spark.sql.shuffle.partitions": str(settings.state_partitions),
        # transformWithState refuses the default HDFS-backed provider
        "spark.sql.streaming.stateStore.providerClass": ROCKSDB_PROVIDER,
        "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
        # The checkpoint is a local directory (a volume on Kubernetes). The default manager
        # renames through Hadoop's FileContext, which on a local disk without Hadoop's native
        # library starts a `readlink` process for every rename. This one renames with
        # java.io.File (atomic on a local file system), which shortens the offset and commit
        # log writes of every batch.
        "spark.sql.streaming.checkpointFileManagerClass": CHECKPOINT_FILE_MANAGER,
        "spark.sql.session.timeZone": "UTC",
        # The JIT's C1 compiler only: every micro-batch brings Spark's generated classes and
        # C2 keeps recompiling them, a large share of the JVM's CPU at small batches, while
        # bulk batches run no slower without it. The parallel collector rather than G1: on
        # few cores G1's concurrent marking and refinement threads take CPU from the tasks
        # (docs/streaming.md has the measurements).
        "spark.driver.extraJavaOptions": JVM_OPTIONS,
        "spark.executor.extraJavaOptions": JVM_OPTIONS,
        # transformWithState in ProcessingTime mode (needed for state TTL) asks for a no-data
        # batch after every batch: an endless stream of empty batches that would also keep an
        # --available-now run from ever finishing. Expired state is evicted in data batches.
        "spark.sql.streaming.noDataMicroBatches.enabled": "false",
        "spark.pyspark.python": os.environ.get("PYSPARK_PYTHON", sys.executable),
        "spark.executor.memory": settings.executor_memory,
        "spark.ui.enabled": "true" if settings.ui_port else "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.metrics.namespace": METRICS_NAMESPACE,
        "spark.sql.streaming.metricsEnabled": "true",
        "spark.metrics.conf.*.sink.prometheusServlet.class": (
            "org.apache.spark.metrics.sink.PrometheusServlet"
        ),
        "spark.metrics.conf.*.sink.prometheusServlet.path": "/metrics/prometheus",
        "spark.ui.prometheus.enabled": "true",
    }
    if settings.ui_port:
        conf["spark.ui.port"] = str(settings.ui_port)
    if settings.driver_host:
        conf["spark.driver.host"] = settings.driver_host
    return conf


def build_session(settings: StreamSettings) -> Any:
    """Start (or reuse) the SparkSession, register the Redis source, log at WARN."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    from rtad.streaming.redis_source import RedisStreamSource

    builder = SparkSession.builder.master(settings.master)
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    _quiet(spark)
    spark.dataSource.register(RedisStreamSource)
    return spark


def _quiet(spark: Any) -> None:
    """Raise the noisiest loggers to ERROR (the state server warns once per new card)."""
    jvm = spark.sparkContext._jvm
    error = jvm.org.apache.logging.log4j.Level.ERROR
    for name in QUIET_LOGGERS:
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(name, error)
    logging.getLogger("py4j").setLevel(logging.WARNING)


def executor_count(spark: Any) -> int:
    """Executors alive now (local mode: the driver is the one executor)."""
    if spark.sparkContext.master.startswith("local"):
        return 1
    infos = spark.sparkContext._jsc.sc().statusTracker().getExecutorInfos()
    return len(infos) - 1  # the list includes the driver
