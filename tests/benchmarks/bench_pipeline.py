"""End to end: replay → Spark → scorer, against the one-process baseline, same data and broker.

    .venv/bin/python -m tests.benchmarks pipeline     # RTAD_BENCH_PIPELINE_RECORDS=200000

1. Throughput: the pipeline (``rtad stream`` local[2] + one ``rtad serve``) is started and
   warmed up on a small file; then the large file is replayed as fast as possible, and the
   figure is transactions / (last score written − first transaction written).
2. Latency at fixed offered loads (2k and 10k transactions/s, ``rtad replay --rate``): p50/p99
   of scored time − ingest time (the tx entry ID) over every score of the phase.
3. CPU (cores used on average) and peak memory of each component's process tree, and the CPU
   each part spent per transaction of the large file: the stream job, the scorer, the replay
   and redis-server — the two cores' budget is 2 s / throughput a transaction, so this says
   how far a 2x could go on them.
4. The baseline (``baseline.py``: redis-py, dict features, Isolation Forest) on the same file,
   the same redis-server, fresh keys, measured the same way (its CPU: the baseline itself, a
   thread of this process; the replay; redis-server).
Results: ``docs/benchmarks/results/pipeline.json``.
"""

from __future__ import annotations

import os
import resource
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import orjson
import psutil
import redis

from rtad.cli.launch_plan import child_env, rtad_command
from rtad.common.encoding import decode
from rtad.common.streams import StreamNames
from rtad.generator.simulator import SimConfig, generate_records
from tests.benchmarks import render, results
from tests.benchmarks.baseline import fit_baseline, run_baseline
from tests.system.harness import Pipeline

RECORDS = int(os.environ.get("RTAD_BENCH_PIPELINE_RECORDS", "200000"))
CUSTOMERS = int(os.environ.get("RTAD_BENCH_CUSTOMERS", "20000"))
LOADS = (2000, 10000)
LOAD_SECONDS = float(os.environ.get("RTAD_BENCH_LOAD_SECONDS", "30"))


def write_file(path: Path, count: int, seed: int, customers: int) -> Path:
    config = SimConfig(count=count, customers=customers, merchants=customers // 4, seed=seed)
    with path.open("wb") as out:
        for record in generate_records(config):
            out.write(orjson.dumps(record) + b"\n")
    return path


class TreeSampler:
    """CPU seconds and peak RSS of a process and its descendants, sampled every 0.5 s."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.cpu: dict[str, dict[int, float]] = {n: {} for n in pids}
        self.peak_rss = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(0.5)

    def _sample(self) -> None:
        for name, pid in self.pids.items():
            try:
                root = psutil.Process(pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
            rss = 0
            for proc in procs:
                try:
                    times = proc.cpu_times()
                    self.cpu[name][proc.pid] = times.user + times.system
                    rss += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak_rss[name] = max(self.peak_rss[name], rss)

    def __enter__(self) -> TreeSampler:
        self._base = {n: 0.0 for n in self.pids}
        self._thread.start()
        time.sleep(0.6)
        self._base = {n: sum(v.values()) for n, v in self.cpu.items()}
        self._t0 = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()  # the last periodic sample can be 0.5 s old
        self.seconds = time.monotonic() - self._t0

    def cpu_seconds(self) -> dict[str, float]:
        """name → CPU seconds its process tree used while sampled."""
        return {n: sum(self.cpu[n].values()) - self._base[n] for n in self.pids}

    def usage(self) -> dict[str, tuple[float, float]]:
        """name → (cores used on average, peak MiB)."""
        return {
            n: (seconds / self.seconds, self.peak_rss[n] / 2**20)
            for n, seconds in self.cpu_seconds().items()
        }


def children_cpu_s() -> float:
    """CPU seconds of this process's finished children (``rtad replay`` once it returned)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu_s() -> float:
    """CPU seconds of this process, every thread (the baseline runs in one)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_s(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def cpu_per_tx(seconds: dict[str, float], count: int) -> dict[str, float]:
    """µs of CPU per transaction of each part, and their total."""
    out = {name: round(s / count * 1e6, 1) for name, s in seconds.items()}
    out["total"] = round(sum(seconds.values()) / count * 1e6, 1)
    return out


def scores_since(client: redis.Redis, names: StreamNames, since_ms: int) -> list[dict]:
    out = []
    for key in names.all("scores"):
        for _id, fields in client.xrange(key, min=f"{since_ms}-0"):
            out.append(decode(fields))
    return out


def pipeline_phase(pipe: Pipeline, big: Path, loads: dict[int, Path]) -> dict:
    client = pipe.client()
    figures: dict = {}
    done_before = pipe.added("scores")
    redis_pid = int(client.info()["process_id"])
    with TreeSampler({n: c.pid for n, c in pipe.children.items()}) as sampler:
        redis_before, replay_before = process_cpu_s(redis_pid), children_cpu_s()
        first_write = time.time()  # after the sampler's 0.6-s start, which writes nothing
        pipe.replay(big)
        replay_s = children_cpu_s() - replay_before
        target = done_before + RECORDS
        pipe.wait_for(lambda: pipe.added("scores") >= target, 1800, "the large file", poll=0.2)
        # before the XRANGE of every score below, which is the benchmark's, not the pipeline's
        redis_s = process_cpu_s(redis_pid) - redis_before
    last_ms = max(s["scored_ms"] for s in scores_since(client, pipe.names, int(first_write * 1000)))
    figures["throughput"] = RECORDS / (last_ms / 1000 - first_write)
    figures["usage"] = sampler.usage()
    seconds = sampler.cpu_seconds() | {"replay": replay_s, "redis": redis_s}
    figures["cpu_us_per_tx"] = cpu_per_tx(seconds, RECORDS)
    for rate, path in loads.items():
        start_ms = int(time.time() * 1000)
        count = sum(1 for _ in path.open("rb"))
        before = pipe.added("scores")
        pipe.replay(path, "--rate", str(rate))
        pipe.wait_for(lambda b=before, c=count: pipe.added("scores") >= b + c, 600, f"{rate}/s")
        lat = [
            (s["scored_ms"] - s["ingest_ms"]) / 1000
            for s in scores_since(client, pipe.names, start_ms)
        ]
        figures[f"p50_{rate}"] = float(np.percentile(lat, 50))
        figures[f"p99_{rate}"] = float(np.percentile(lat, 99))
    return figures


def baseline_phase(url: str, big: Path, train_records: list[dict]) -> dict:
    """The baseline reads the same file, replayed by the same command into fresh keys."""
    client = redis.Redis.from_url(url)
    client.flushall()
    names = StreamNames(prefix="rtad", shards=4)
    model = fit_baseline(train_records)
    result: dict = {}
    thread = threading.Thread(
        target=lambda: result.update(run_baseline(client, names, model, RECORDS)), daemon=True
    )
    redis_pid = int(client.info()["process_id"])
    before = (own_cpu_s(), children_cpu_s(), process_cpu_s(redis_pid))
    thread.start()
    first_write = time.time()
    subprocess.run(
        rtad_command("replay", str(big)),
        env=child_env(url, names),
        check=True,
        capture_output=True,
        timeout=1800,
    )
    thread.join()
    after = (own_cpu_s(), children_cpu_s(), process_cpu_s(redis_pid))
    parts = ("baseline", "replay", "redis")
    seconds = {n: b - a for n, a, b in zip(parts, before, after, strict=True)}
    result["cpu_us_per_tx"] = cpu_per_tx(seconds, RECORDS)
    last_ms = max(
        int(entry_id.split(b"-")[0])
        for key in StreamNames(prefix="baseline", shards=4).all("scores")
        for entry_id, _ in client.xrevrange(key, count=1)
    )
    result["throughput"] = result["scored"] / (last_ms / 1000 - first_write)
    return result


def main() -> None:
    load_before = results.load_now()
    work = Path(tempfile.mkdtemp(prefix="rtad-bench-pipeline-"))
    big = write_file(work / "big.jsonl", RECORDS, seed=101, customers=CUSTOMERS)
    warm = write_file(work / "warm.jsonl", 5000, seed=102, customers=CUSTOMERS)
    loads = {
        rate: write_file(work / f"load{rate}.jsonl", int(rate * LOAD_SECONDS), 103 + i, CUSTOMERS)
        for i, rate in enumerate(LOADS)
    }
    with Pipeline(work / "pipe") as pipe:
        pipe.start_stream()
        pipe.start_scorer()
        pipe.replay(warm)
        pipe.wait_for(lambda: pipe.added("scores") >= 5000, 600, "warm-up")
        figures = pipeline_phase(pipe, big, loads)
        pipe.supervisor.stop_all()
        pipe.children.clear()
        train = [orjson.loads(line) for _, line in zip(range(20000), warm.open("rb"), strict=False)]
        base = baseline_phase(pipe.url, big, train)
    report(figures, base, load_before)


def report(figures: dict, base: dict, load_before: float) -> None:
    """Write the results file: both arms' figures and their ratio."""
    document = {
        "pipeline": figures,
        "baseline": base,
        "ratio": figures["throughput"] / base["throughput"],
    }
    parameters = {
        "records": RECORDS,
        "cards": CUSTOMERS,
        "offered_loads_tx_per_s": list(LOADS),
        "load_seconds": LOAD_SECONDS,
        "master": "local[2]",
    }
    results.write("pipeline", document, parameters, load_before)
    render.print_tables("pipeline")
