"""Spark job throughput: Redis tx → per-card features → Redis, on this machine's cores.

Queries over the same kind of data in one run and one local[2] Spark session:
- ``reader→writer``: the Arrow source straight into the feature writer (no state) — the
  plumbing's ceiling;
- ``features``: the real job (transformWithStateInPandas keyed by state bucket, one
  vectorised feature step and one state read and write per touched slot of a bucket): a bulk
  mix (5 rows per card per batch) and a real-time mix (2k rows per batch, ~0.1 row per card).

Steady rate = rows / wall time of the batches after the first (the first pays JVM, Python
worker and RocksDB start-up); the second-half rate counts the later half of those only. A
fourth query runs the bulk mix on until every card's window of ``WINDOW`` transactions is
full: from then on a batch reads and writes every card's whole window, which the 4-batch
bulk query (20 transactions a card at its end) does not show.

CPU per row = CPU seconds of the Spark JVM, of its Python workers and of redis-server
(``/proc``, via psutil) over the whole query, first batch included, divided by its rows: on a
shared 2-core machine it moves much less than wall time.
Run: ``.venv/bin/python -m tests.benchmarks stream``; results:
``docs/benchmarks/results/stream.json``.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pyarrow as pa
import redis

from rtad.common.feature_entry import feature_set_id
from rtad.common.local_redis import LocalRedis
from rtad.common.streams import StreamNames
from rtad.streaming.feature_sink import (
    FEATURES_COLUMN,
    PAYLOAD_COLUMN,
    SHARD_COLUMN,
    FeatureWriter,
)
from rtad.streaming.job import INPUT_METRIC, input_rows, sink_target, source_options, start_query
from rtad.streaming.packed_records import unpack
from rtad.streaming.records import COUNT_COLUMN, RECORDS_COLUMN, packed_of
from rtad.streaming.session import build_session
from rtad.streaming.settings import StreamSettings
from tests.benchmarks import render, results
from tests.integration.streaming.txdata import produce, transactions


def passthrough(spark: Any, settings: StreamSettings, checkpoint: Path) -> Any:
    """Source → writer with no features and no shuffle: the plumbing alone (a Python worker
    unpacks each source row's records and writes their heads with empty features, as the
    processor writes its rows)."""
    from pyspark.sql import functions as F  # noqa: N812 (Spark's own convention)

    options = source_options(settings)
    rows = (
        spark.readStream.format("rtad_redis")
        .options(**options)
        .option("maxRecordsPerBatch", str(settings.max_records_per_batch))
        .load()
        .observe(INPUT_METRIC, F.sum(COUNT_COLUMN).alias("rows"))
    )
    target = sink_target(settings)

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        writer = FeatureWriter(target, feature_set_id(()))
        task = TaskContext.get().partitionId()
        blobs = (b for batch in batches for b in batch.column(RECORDS_COLUMN).to_pylist())
        for k, blob in enumerate(blobs):  # a writer name per source row: each is written
            records = unpack(packed_of([blob]))
            out = pa.RecordBatch.from_arrays(
                [
                    pa.array(records.fixed["shard"]),
                    records.heads,
                    pa.array([b""] * len(records.heads), pa.binary()),
                ],
                names=[SHARD_COLUMN, PAYLOAD_COLUMN, FEATURES_COLUMN],
            )
            writer.write(out, writer=f"task-{task}-row-{k}")
        writer.close()
        yield from ()

    written = rows.mapInArrow(write, "written long")
    writer = written.writeStream.format("noop").option("checkpointLocation", str(checkpoint))
    return writer.trigger(availableNow=True).start()


def measure(query: Any, name: str, rows: int, cards: int, batch: int) -> dict[str, Any]:
    """Wait for an --available-now query and summarise its progress reports."""
    query.awaitTermination()
    progress = [p for p in query.recentProgress if input_rows(p) > 0]
    steady = progress[1:] or progress
    durations = [p.batchDuration / 1000 for p in steady]
    late = steady[len(steady) // 2 :]  # the second half: the cards' windows fuller
    return {
        "query": name,
        "rows": rows,
        "cards": cards,
        "rows_per_batch": batch,
        "rows_per_card_per_batch": round(batch / cards, 1),
        "batches": len(progress),
        "first_batch_s": round(progress[0].batchDuration / 1000, 2),
        "steady_rows_per_s": _rows_per_s(steady),
        "late_rows_per_s": _rows_per_s(late),
        "batch_median_s": round(statistics.median(durations), 2),
        "batch_max_s": round(max(durations), 2),
    }


def _rows_per_s(reports: list[Any]) -> int:
    """Rows over the wall time of some batches' progress reports."""
    return round(
        sum(input_rows(p) for p in reports) / (sum(p.batchDuration for p in reports) / 1000)
    )


class ProcessCpu:
    """CPU seconds of the Spark JVM (this process's Java child), its Python workers (the
    JVM's Python descendants) and redis-server, per process, for differences."""

    def __init__(self, redis_pid: int) -> None:
        self.redis = psutil.Process(redis_pid)

    def sample(self) -> dict[str, dict[int, float]]:
        jvm = [c for c in psutil.Process().children() if _name(c) == "java"]
        workers = [p for j in jvm for p in _descendants(j) if "python" in _name(p)]
        groups = {"jvm": jvm, "python": workers, "redis": [self.redis]}
        return {name: _cpu_seconds(procs) for name, procs in groups.items()}

    @staticmethod
    def used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict:
        """CPU seconds per group between two samples (a worker that ended is not counted)."""
        return {
            name: sum(cpu - before[name].get(pid, 0.0) for pid, cpu in after[name].items())
            for name in after
        }


def _name(proc: psutil.Process) -> str:
    """A process's name, "" once it has ended (Python workers come and go during a run)."""
    try:
        return proc.name()
    except psutil.Error:
        return ""


def _descendants(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return proc.children(recursive=True)
    except psutil.Error:
        return []


def _cpu_seconds(procs: list[psutil.Process]) -> dict[int, float]:
    out = {}
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        out[proc.pid] = times.user + times.system
    return out


def run_case(
    spark: Any, server: LocalRedis, work: Path, case: dict[str, Any], cpu: ProcessCpu
) -> dict[str, Any]:
    prefix = f"b{case['id']}"
    settings = StreamSettings(
        redis_url=server.url,
        stream_prefix=prefix,
        master="local[2]",
        available_now=True,
        max_records_per_batch=case["batch"],
        checkpoint_dir=work / prefix,
        state_cache_dir=work / f"{prefix}-cache",
    )
    client = redis.Redis.from_url(server.url)
    produce(client, StreamNames(prefix, 4), transactions(case["rows"], case["cards"], seed=5))
    before = cpu.sample()
    if case["name"] == "reader→writer":
        query = passthrough(spark, settings, settings.checkpoint_dir)
    else:
        query = start_query(spark, settings, settings.checkpoint_dir)
    result = measure(query, case["name"], case["rows"], case["cards"], case["batch"])
    result["case"] = case["case"]
    used = ProcessCpu.used(before, cpu.sample())
    for name, seconds in used.items():
        result[f"{name}_cpu_us_per_row"] = round(seconds / case["rows"] * 1e6, 1)
    client.flushdb()
    return result


CASES = [
    {
        "id": 1,
        "name": "reader→writer",
        "case": "reader→writer (no state: the plumbing)",
        "rows": 400_000,
        "cards": 20_000,
        "batch": 100_000,
    },
    {
        "id": 2,
        "name": "features",
        "case": "features, bulk",
        "rows": 400_000,
        "cards": 20_000,
        "batch": 100_000,
    },
    # about one second of a 2k tx/s feed per batch: mostly one row per card
    {
        "id": 3,
        "name": "features",
        "case": "features, real time",
        "rows": 20_000,
        "cards": 20_000,
        "batch": 2_000,
    },
    # the bulk mix run on until every card's window is full (WINDOW rows after ~7 batches):
    # each batch then reads and writes every card's whole window
    {
        "id": 4,
        "name": "features",
        "case": "features, windows full",
        "rows": 1_200_000,
        "cards": 20_000,
        "batch": 100_000,
    },
]


def main() -> None:
    load_before = results.load_now()
    with tempfile.TemporaryDirectory() as tmp, LocalRedis(Path(tmp) / "redis") as server:
        spark = build_session(StreamSettings(master="local[2]"))
        cpu = ProcessCpu(int(redis.Redis.from_url(server.url).info()["process_id"]))
        try:
            measured = []
            for case in CASES:
                measured.append(run_case(spark, server, Path(tmp), case, cpu))
                print(json.dumps(measured[-1]), flush=True)  # noqa: T201 (progress)
        finally:
            spark.stop()
    cases = [{k: c[k] for k in ("case", "rows", "cards", "batch")} for c in CASES]
    results.write("stream", measured, {"master": "local[2]", "cases": cases}, load_before)
    render.print_tables("stream")


if __name__ == "__main__":
    main()
