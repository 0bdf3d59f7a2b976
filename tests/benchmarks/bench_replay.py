"""Replay and generator throughput into a real Redis, beside redis-benchmark on the same server.

    .venv/bin/python -m tests.benchmarks replay        # RTAD_BENCH_RECORDS=200000 by default

One private redis-server (``LocalRedis``); each row writes into fresh keys of it:
* ``redis-benchmark`` XADD of the same entry (``v 1 d <a real 300-byte record>``): pipelined
  (``-P 64``, 50 clients, the server's ceiling) and unpipelined (50 clients, and 1 client);
* plain redis-py: one ``xadd`` per record (round trip each), and a redis-py pipeline of 1000;
* ``rtad replay`` of JSONL, CSV and Parquet files of generated records (read + validate with
  msgspec + encode + shard + pipelined XADD), through the same code as the command;
* ``rtad generate`` into the streams, and the simulator alone (no output) for comparison.
Results: ``docs/benchmarks/results/replay.json``.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import redis

from rtad.common.local_redis import LocalRedis
from rtad.common.redis_streams import StreamProducer
from rtad.common.streams import StreamNames
from rtad.generator.replay import replay_file
from rtad.generator.runner import run_generate
from rtad.generator.simulator import SimConfig, generate_records
from rtad.generator.sinks import PARQUET_COLUMNS, JsonlSink, ParquetSink, StreamSink
from tests.benchmarks import render, results

RECORDS = int(os.environ.get("RTAD_BENCH_RECORDS", "200000"))
REPEAT = int(os.environ.get("RTAD_BENCH_REPEAT", "3"))
BATCH = 2000
Row = dict[str, object]


def redis_benchmark(
    port: int, key: str, payload: bytes, pipeline: int, clients: int, n: int
) -> float:
    """requests/s of ``redis-benchmark`` XADD on ``port`` (needs the binary on PATH)."""
    args = ["redis-benchmark", "-p", str(port), "-n", str(n), "-P", str(pipeline)]
    args += ["-c", str(clients), "-q", "XADD", key, "*", "v", "1", "d", payload.decode()]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=600).stdout
    found = re.findall(r"([\d.]+) requests per second", out.replace("\r", "\n"))
    if not found:
        raise RuntimeError(f"unexpected redis-benchmark output: {out[-200:]}")
    return float(found[-1])


def timed(fn: Callable[[], int]) -> tuple[int, float, float | None]:
    """(count, wall seconds, CPU seconds of this process) of ``fn()``."""
    started, cpu = time.perf_counter(), time.process_time()
    count = fn()
    return count, time.perf_counter() - started, time.process_time() - cpu


def write_files(workdir: Path) -> dict[str, Path]:
    """The same generated records as JSONL, CSV and Parquet."""
    config = SimConfig(seed=1, count=RECORDS, customers=max(500, RECORDS // 200))
    paths = {ext: workdir / f"tx.{ext}" for ext in ("jsonl", "csv", "parquet")}
    jsonl, parquet = JsonlSink(paths["jsonl"]), ParquetSink(paths["parquet"])
    with paths["csv"].open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[name for name, _ in PARQUET_COLUMNS])
        writer.writeheader()
        for record in generate_records(config):
            jsonl.write(record)
            parquet.write(record)
            writer.writerow(record)
    jsonl.close()
    parquet.close()
    return paths


Measure = Callable[[], tuple[int, float, float | None]]


def cases(
    client: redis.Redis, server: LocalRedis, paths: dict[str, Path]
) -> list[tuple[str, str, Measure]]:
    """(what, how, measure) of every row; ``measure`` returns (records, wall s, client CPU s)."""
    sample = paths["jsonl"].open("rb").readline().rstrip()
    payloads = [sample] * min(RECORDS, 50_000)
    names = StreamNames(shards=4)
    out: list[tuple[str, str, Measure]] = []
    for pipeline, clients in ((64, 50), (1, 50), (1, 1)):
        count = RECORDS if pipeline > 1 else min(RECORDS, 50_000)
        how = f"-P {pipeline} -c {clients}"
        run = partial(redis_benchmark, server.port, "bench", sample, pipeline, clients, count)
        out.append(
            ("redis-benchmark XADD (same entry)", how, partial(_rate_to_measure, run, count))
        )

    def plain_loop() -> int:
        for p in payloads[:20_000]:
            client.xadd("loop", {"v": b"1", "d": p})
        return 20_000

    def plain_pipeline() -> int:
        pipe = client.pipeline(transaction=False)
        for i, p in enumerate(payloads, 1):
            pipe.xadd("pipe", {"v": b"1", "d": p})
            if i % 1000 == 0:
                pipe.execute()
        pipe.execute()
        return len(payloads)

    def replay(ext: str) -> int:
        producer = StreamProducer(client, names, "tx", batch_size=BATCH, high_water=10**9)
        return replay_file(paths[ext], producer).sent

    config = SimConfig(seed=2, count=RECORDS // 2, customers=max(500, RECORDS // 400))

    def generate() -> int:
        producer = StreamProducer(client, names, "tx", batch_size=BATCH, high_water=10**9)
        return run_generate(config, StreamSink(producer)).records

    out.append(("redis-py xadd loop", "one round trip each", partial(timed, plain_loop)))
    out.append(("redis-py pipeline", "xadd, 1000 per execute", partial(timed, plain_pipeline)))
    for ext in ("jsonl", "csv", "parquet"):
        what = f"rtad replay {ext.upper()}"
        out.append(
            (what, "validate + encode + XADD, 4 shards", partial(timed, partial(replay, ext)))
        )
    out.append(("rtad generate", "simulate + validate + XADD", partial(timed, generate)))
    simulate = partial(lambda: sum(1 for _ in generate_records(config)))
    out.append(("simulator alone", "no output", partial(timed, simulate)))
    return out


def _rate_to_measure(run: Callable[[], float], count: int) -> tuple[int, float, float | None]:
    return count, count / run(), None


def bench_rows(server: LocalRedis, paths: dict[str, Path]) -> list[Row]:
    """Every case REPEAT times, round by round (so all rows see the same machine load)."""
    client = redis.Redis.from_url(server.url)
    table = cases(client, server, paths)
    results: list[list[tuple[int, float, float | None]]] = [[] for _ in table]
    for _ in range(REPEAT):
        for i, (_, _, measure) in enumerate(table):
            results[i].append(measure())
            client.flushall()
    rows: list[Row] = []
    for (what, how, _), runs in zip(table, results, strict=True):
        rates = sorted(count / wall for count, wall, _ in runs)
        cpus = [cpu / count * 1e6 for count, _, cpu in runs if cpu is not None]
        rows.append(
            {
                "what": what,
                "how": how,
                "records": runs[0][0],
                "per_second_best": rates[-1],
                "per_second_median": statistics.median(rates),
                "cpu_us_per_record": min(cpus) if cpus else None,
            }
        )
    return rows


def main() -> None:
    if shutil.which("redis-benchmark") is None:
        raise SystemExit("redis-benchmark not found: sudo apt-get install -y redis-tools")
    load_before = results.load_now()
    with tempfile.TemporaryDirectory(prefix="rtad-bench-") as tmp:
        workdir = Path(tmp)
        paths = write_files(workdir)
        with LocalRedis(workdir / "redis") as server:
            rows = bench_rows(server, paths)
    parameters = {"records": RECORDS, "repeat": REPEAT, "producer_batch": BATCH, "shards": 4}
    results.write("replay", rows, parameters, load_before)
    render.print_tables("replay")


if __name__ == "__main__":
    main()
