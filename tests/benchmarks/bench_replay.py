"""Replay and generator throughput into a real Redis, beside redis-benchmark on the same server.

    .venv/bin/python -m tests.benchmarks replay        # RTAD_BENCH_RECORDS=200000 by default

One private redis-server (``LocalRedis``); each row writes into fresh keys of it:
* ``redis-benchmark`` XADD of the same entry (``v 1 d <a real 300-byte record>``): pipelined
  (``-P 64``, 50 clients, the server's ceiling) and unpipelined (50 clients, and 1 client);
* plain redis-py: one ``xadd`` per record (round trip each), and a redis-py pipeline of 1000;
* ``rtad replay`` of JSONL, CSV and Parquet files of generated records (read + validate with
  msgspec + encode + shard + pipelined XADD), through the same code as the command;
* ``rtad generate`` into the streams, and the simulator alone (no output) for comparison.
The table is printed as Markdown and written to ``bench-results/replay.json``.
"""

from __future__ import annotations

import csv
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import orjson
import redis

from rtad.common.local_redis import LocalRedis
from rtad.common.redis_streams import StreamProducer
from rtad.common.streams import StreamNames
from rtad.generator.replay import replay_file
from rtad.generator.runner import run_generate
from rtad.generator.simulator import SimConfig, generate_records
from rtad.generator.sinks import PARQUET_COLUMNS, JsonlSink, ParquetSink, StreamSink

RECORDS = int(os.environ.get("RTAD_BENCH_RECORDS", "200000"))
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


def timed(fn: Callable[[], int]) -> tuple[int, float, float]:
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


def bench_rows(server: LocalRedis, paths: dict[str, Path]) -> list[Row]:
    client = redis.Redis.from_url(server.url)
    sample = paths["jsonl"].open("rb").readline().rstrip()
    payloads = [sample] * min(RECORDS, 50_000)
    rows: list[Row] = []

    def add(name: str, how: str, count: int, seconds: float, cpu: float | None = None) -> None:
        cpu_us = None if cpu is None else cpu / count * 1e6
        row = {"what": name, "how": how, "records": count, "per_second": count / seconds}
        rows.append({**row, "cpu_us_per_record": cpu_us})
        client.flushall()

    n = RECORDS
    for pipeline, clients, how in (
        (64, 50, "-P 64 -c 50"),
        (1, 50, "-P 1 -c 50"),
        (1, 1, "-P 1 -c 1"),
    ):
        count = n if pipeline > 1 else min(n, 50_000)
        rate = redis_benchmark(server.port, "bench", sample, pipeline, clients, count)
        add("redis-benchmark XADD (same entry)", how, count, count / rate)

    def plain_loop() -> int:
        for p in payloads[:20_000]:
            client.xadd("loop", {"v": b"1", "d": p})
        return 20_000

    add("redis-py xadd loop", "one round trip each", *timed(plain_loop))

    def plain_pipeline() -> int:
        pipe = client.pipeline(transaction=False)
        for i, p in enumerate(payloads, 1):
            pipe.xadd("pipe", {"v": b"1", "d": p})
            if i % 1000 == 0:
                pipe.execute()
        pipe.execute()
        return len(payloads)

    add("redis-py pipeline", "xadd, 1000 per execute", *timed(plain_pipeline))
    names = StreamNames(shards=4)
    for ext in ("jsonl", "csv", "parquet"):
        producer = StreamProducer(client, names, "tx", batch_size=BATCH, high_water=10**9)
        replay = partial(lambda path, p: replay_file(path, p).sent, paths[ext], producer)
        add(f"rtad replay {ext.upper()}", "validate + encode + XADD, 4 shards", *timed(replay))
    config = SimConfig(seed=2, count=n // 2, customers=max(500, n // 400))
    producer = StreamProducer(client, names, "tx", batch_size=BATCH, high_water=10**9)
    generate = partial(lambda c, p: run_generate(c, StreamSink(p)).records, config, producer)
    add("rtad generate", "simulate + validate + XADD", *timed(generate))
    add("simulator alone", "no output", *timed(lambda: sum(1 for _ in generate_records(config))))
    return rows


def markdown(rows: list[Row]) -> str:
    lines = [
        "| what | how | records | records/s | CPU µs/record (client) |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        cpu = r["cpu_us_per_record"]
        cpu_text = "–" if cpu is None else f"{cpu:.1f}"
        lines.append(
            f"| {r['what']} | {r['how']} | {r['records']:,} | {r['per_second']:,.0f} | {cpu_text} |"
        )
    return "\n".join(lines)


def main() -> None:
    if shutil.which("redis-benchmark") is None:
        raise SystemExit("redis-benchmark not found: sudo apt-get install -y redis-tools")
    with tempfile.TemporaryDirectory(prefix="rtad-bench-") as tmp:
        workdir = Path(tmp)
        paths = write_files(workdir)
        with LocalRedis(workdir / "redis") as server:
            rows = bench_rows(server, paths)
    table = markdown(rows)
    load = os.getloadavg()[0]
    print(
        f"\n### replay / generate throughput ({RECORDS:,} records, {os.cpu_count()} cores, "
        f"load average {load:.1f} at the end)\n"
    )
    print(table)
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    meta = {
        "records": RECORDS,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "command": "python -m tests.benchmarks replay",
    }
    (out / "replay.json").write_bytes(
        orjson.dumps({"meta": meta, "rows": rows}, option=orjson.OPT_INDENT_2)
    )


if __name__ == "__main__":
    main()
