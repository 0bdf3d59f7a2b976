"""Scorer throughput: one worker process, batches of 1k-5k, beside a naive per-entry loop.

    .venv/bin/python -m tests.benchmarks scorer      # RTAD_BENCH_SCORER_ROWS=100000 by default

One private redis-server (``LocalRedis``). Feature rows are real: simulated transactions
through ``batch_features`` (the streaming job's code), repeated with fresh transaction IDs.
The model is ``models/champion/`` (rtad.ml's artifact). For each batch size the feature
streams are filled first (not timed) with feature entries as the Spark job writes them, then
one :class:`ScoringWorker` (the production class: XREADGROUP, one ``model.score`` per batch,
one commit script per shard) drains them; rows/s is rows / wall time, the batch latency is
the time of one worker step (read, decode, score, hand over to the commit thread). The
"obvious batched loop" reads plain JSON entries and scores a batch with one call too, but
decodes with json and sends one XADD/XACK per entry; the naive loop
scores one entry at a time (decode, score one row, its own MULTI with XADD + XACK); the "model
only" row is ``model.score`` on an in-memory matrix, the ceiling of any worker. Beside the
worker's CPU (all its threads, and split into its main, read-ahead and commit threads) the
redis-server's CPU per row is shown (from ``/proc``): on a shared 2-core machine these CPU
figures move far less with the load than rows/s. The CPU table splits one batch's CPU time by
step (in memory, no Redis).
Results: ``docs/benchmarks/results/scorer.json``. First, the arms of
:mod:`tests.benchmarks.scorer_arms` (with and without the feedback loop, their own file).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import redis

from rtad.common.feature_entry import FeatureSets, feature_set_id, register_feature_set
from rtad.common.local_redis import LocalRedis
from rtad.common.runtime import paused_gc
from rtad.common.streams import SCORER_GROUP, StreamNames
from rtad.features.table import FEATURE_COLUMNS
from rtad.scorer.model_holder import ModelHolder
from rtad.scorer.scoring import score_matrix
from rtad.scorer.settings import ScorerSettings
from rtad.scorer.worker.batch import build_batch
from rtad.scorer.worker.decode import decode_entries
from rtad.scorer.worker.loop import ScoringWorker, tune_process
from tests.benchmarks import render, results
from tests.unit.scorer.support import (
    feature_rows,
    packed_fields,
    transactions,
    write_transactions,
)

ROWS = int(os.environ.get("RTAD_BENCH_SCORER_ROWS", "100000"))
NAIVE_ROWS = min(ROWS, 5000)
BATCHES = (1000, 2500, 5000)
SHARDS = 4
CHAMPION = Path("models/champion")


def make_rows(workdir: Path, n: int) -> list[dict[str, Any]]:
    """``n`` feature rows (real features of 10k simulated transactions, repeated)."""
    data = write_transactions(workdir / "tx.jsonl", seed=7, count=10_000)
    base = feature_rows(transactions(data))
    out = []
    for i in range(n):
        row = base[i % len(base)]
        out.append(row | {"transaction_id": f"{row['transaction_id']}-{i}"})
    return out


def entry_fields(row: dict[str, Any], plain: bool = False) -> dict[bytes, bytes]:
    """A row's feature entry as the Spark job writes it, or a plain JSON entry (the
    hand-written loops read those themselves)."""
    return {b"d": orjson.dumps(row)} if plain else packed_fields(row)


def raw_entries(rows: list[dict[str, Any]]) -> list[tuple[bytes, list[bytes]]]:
    """The rows' entries as XREADGROUP hands them to the worker (flat field lists)."""
    entries = []
    for i, row in enumerate(rows):
        fields = entry_fields(row)
        entries.append((f"1-{i}".encode(), [x for pair in fields.items() for x in pair]))
    return entries


def fill(client: redis.Redis, names: StreamNames, rows: list[dict], plain: bool = False) -> None:
    """XADD every row to a shard (round robin), pipelined; set the ingest time now."""
    now = int(time.time() * 1000)
    if not plain:
        register_feature_set(client, names.prefix, FEATURE_COLUMNS)
    for start in range(0, len(rows), 5000):
        pipe = client.pipeline(transaction=False)
        for i, row in enumerate(rows[start : start + 5000], start):
            fields = entry_fields(row | {"ingest_ms": now}, plain)
            pipe.xadd(names.key("features", i % SHARDS), fields)  # type: ignore[arg-type]
        pipe.execute()


def server_cpu(server: LocalRedis) -> float:
    """CPU seconds (user + system) the redis-server process has used so far."""
    assert server.process is not None
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu() -> dict[str, float]:
    """CPU seconds (user + system) of each of this process' threads so far, by thread name."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        stat = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        name = names.get(int(tid), "other")  # OpenBLAS' and the like
        out[name] = out.get(name, 0.0) + (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return out


def per_thread(before: dict[str, float], after: dict[str, float], rows: int) -> str:
    """The worker's CPU µs a row on its main, read-ahead, shadow and commit threads."""
    keys = ("MainThread", "rtad-scorer-read", "rtad-scorer-shadow", "rtad-scorer-commit")
    return " / ".join(f"{(after.get(k, 0) - before.get(k, 0)) / rows * 1e6:.1f}" for k in keys)


def worker_settings(url: str, prefix: str, batch: int, **more: Any) -> ScorerSettings:
    """A benchmark worker's settings: ``SHARDS`` shards, ``batch`` rows a read, no upkeep."""
    return ScorerSettings(
        redis_url=url,
        stream_prefix=prefix,
        shards=SHARDS,
        batch_count=batch // SHARDS,
        block_ms=100,
        claim_interval_s=3600,
        maintenance_interval_s=3600,
        consumer_name="bench",
        **more,
    )


def run_worker(server: LocalRedis, holder: ModelHolder, rows: list[dict], batch: int) -> dict:
    client = redis.Redis.from_url(server.url)
    settings = worker_settings(server.url, f"bench{batch}", batch)
    worker = ScoringWorker(client, settings, holder)
    fill(client, settings.streams, rows)
    tune_process(settings.blas_threads)  # what ScoringWorker.run() does first
    latencies = []
    threads = thread_cpu()
    started, cpu, redis_cpu = time.perf_counter(), time.process_time(), server_cpu(server)
    while worker.scored < len(rows):
        t = time.perf_counter()
        if worker.step():
            latencies.append(time.perf_counter() - t)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    redis_cpu = server_cpu(server) - redis_cpu
    by_thread = per_thread(threads, thread_cpu(), len(rows))
    worker.close()
    scores = sum(client.xlen(k) for k in settings.streams.all("scores"))
    assert scores == len(rows), (scores, len(rows))
    return {
        "variant": f"rtad worker, batch {batch}",
        "rows": len(rows),
        "rows_per_s": len(rows) / wall,
        "batch_p50_ms": float(np.percentile(latencies, 50) * 1000),
        "batch_p99_ms": float(np.percentile(latencies, 99) * 1000),
        "cpu_us_per_row": cpu / len(rows) * 1e6,
        "thread_cpu_us_per_row": by_thread,
        "redis_cpu_us_per_row": redis_cpu / len(rows) * 1e6,
    }


def run_naive(url: str, holder: ModelHolder, rows: list[dict]) -> dict:
    """The per-entry loop a first version would be: one row scored and committed at a time."""
    client = redis.Redis.from_url(url)
    names = StreamNames(prefix="naive", shards=SHARDS)
    for key in names.all("features"):
        client.xgroup_create(key, SCORER_GROUP, id="0", mkstream=True)
    fill(client, names, rows, plain=True)
    model = holder.current
    done, latencies = 0, []
    started = time.perf_counter()
    while done < len(rows):
        reply: Any = client.xreadgroup(
            SCORER_GROUP, "naive", {k: ">" for k in names.all("features")}, count=100
        )
        for key, entries in reply.items() if isinstance(reply, dict) else reply:
            shard = names.shard_from_key(key)
            for entry_id, fields in entries:
                t = time.perf_counter()
                row = json.loads(fields[b"d"])
                x = np.array([[row["features"][n] for n in model.feature_names]])
                score = float(model.score(x)[0])
                anomalous = score >= model.threshold
                out = {"transaction_id": row["transaction_id"], "user_id": row["user_id"]}
                out |= {"score": score, "is_anomaly": anomalous, "model_version": model.version}
                out["reasons"] = model.reasons(x)[0] if anomalous else []
                pipe = client.pipeline(transaction=True)
                pipe.xadd(names.key("scores", shard), {"v": "1", "d": json.dumps(out)})
                if anomalous:
                    pipe.xadd(names.key("alerts", shard), {"v": "1", "d": json.dumps(out)})
                pipe.xack(key, SCORER_GROUP, entry_id)
                pipe.execute()
                latencies.append(time.perf_counter() - t)
                done += 1
    wall = time.perf_counter() - started
    return {
        "variant": "naive per-entry loop",
        "rows": len(rows),
        "rows_per_s": len(rows) / wall,
        "batch_p50_ms": float(np.percentile(latencies, 50) * 1000),
        "batch_p99_ms": float(np.percentile(latencies, 99) * 1000),
        "cpu_us_per_row": None,
    }


def run_obvious_batch(url: str, holder: ModelHolder, rows: list[dict]) -> dict:
    """The obvious batched loop: one score call a batch, but json and one command per entry."""
    client = redis.Redis.from_url(url)
    names = StreamNames(prefix="obvious", shards=SHARDS)
    for key in names.all("features"):
        client.xgroup_create(key, SCORER_GROUP, id="0", mkstream=True)
    fill(client, names, rows, plain=True)
    model = holder.current
    done, latencies = 0, []
    started = time.perf_counter()
    while done < len(rows):
        t = time.perf_counter()
        reply: Any = client.xreadgroup(
            SCORER_GROUP, "obvious", {k: ">" for k in names.all("features")}, count=250
        )
        for key, entries in reply.items() if isinstance(reply, dict) else reply:
            shard = names.shard_from_key(key)
            decoded = [json.loads(fields[b"d"]) for _id, fields in entries]
            X = np.array([[r["features"][n] for n in model.feature_names] for r in decoded])
            scores = model.score(X)
            pipe = client.pipeline(transaction=True)
            for (entry_id, _f), row, score in zip(entries, decoded, scores.tolist(), strict=True):
                out = {"transaction_id": row["transaction_id"], "user_id": row["user_id"]}
                out |= {"score": score, "is_anomaly": score >= model.threshold}
                pipe.xadd(names.key("scores", shard), {"v": "1", "d": json.dumps(out)})
                if out["is_anomaly"]:
                    pipe.xadd(names.key("alerts", shard), {"v": "1", "d": json.dumps(out)})
                pipe.xack(key, SCORER_GROUP, entry_id)
            pipe.execute()
            done += len(entries)
        latencies.append(time.perf_counter() - t)
    wall = time.perf_counter() - started
    return {
        "variant": "obvious batched loop (json, one XADD/XACK per entry), batch 1000",
        "rows": len(rows),
        "rows_per_s": len(rows) / wall,
        "batch_p50_ms": float(np.percentile(latencies, 50) * 1000),
        "batch_p99_ms": float(np.percentile(latencies, 99) * 1000),
        "cpu_us_per_row": None,
    }


def model_only(holder: ModelHolder, rows: list[dict]) -> dict:
    model = holder.current
    X = np.array([[r["features"][n] for n in model.feature_names] for r in rows[:20_000]])
    model.score(X[:1000])  # warm
    started = time.perf_counter()
    for start in range(0, len(X), 5000):
        model.score(X[start : start + 5000])
    wall = time.perf_counter() - started
    return {
        "variant": f"model.score alone ({model.card.get('detector')}), 5k rows",
        "rows": len(X),
        "rows_per_s": len(X) / wall,
        "batch_p50_ms": None,
        "batch_p99_ms": None,
        "cpu_us_per_row": None,
    }


def stages(holder: ModelHolder, rows: list[dict]) -> list[tuple[str, float]]:
    """CPU µs per row of each step of a 5k batch, on in-memory entries (median of 15 runs)."""
    model = holder.current
    names = tuple(model.feature_names)
    sets = FeatureSets(known={feature_set_id(FEATURE_COLUMNS): FEATURE_COLUMNS})
    sample = rows[: BATCHES[-1]]

    entries = raw_entries(sample)
    batch = [(s, entries[s::SHARDS]) for s in range(SHARDS)]

    def cpu(fn: Any) -> float:
        """Median of 15 runs with the collector paused, as in the worker (load-robust)."""
        runs = []
        with paused_gc():
            for _ in range(15):
                started = time.process_time()
                fn()
                runs.append(time.process_time() - started)
        return float(np.median(runs)) / len(sample) * 1e6

    X = decode_entries(batch, names, sets).X
    decode = cpu(lambda: decode_entries(batch, names, sets))
    scoring = cpu(lambda: score_matrix(model, X))
    whole = cpu(lambda: build_batch(batch, model, int(time.time() * 1000), sets))
    return [
        ("decode + validate + X (one decode call over the heads)", decode),
        ("model.score + reasons of anomalies", scoring),
        ("the rest: score entries, per-shard lists, counts", whole - decode - scoring),
        ("whole batch of 5k, without Redis", whole),
    ]


def main() -> None:
    from tests.benchmarks.scorer_arms import compare_arms  # it uses this module's helpers

    load_before = results.load_now()
    holder = ModelHolder(CHAMPION)
    tune_process(ScorerSettings.model_fields["blas_threads"].default)  # as the worker runs
    with tempfile.TemporaryDirectory() as tmp:
        rows = make_rows(Path(tmp), ROWS)
        compare_arms(Path(tmp), CHAMPION, rows)  # with and without the feedback loop
        if os.environ.get("RTAD_BENCH_SCORER_ARMS_ONLY"):
            return
        with LocalRedis(Path(tmp) / "redis") as server:
            breakdown = stages(holder, rows)
            measured = [model_only(holder, rows)]
            measured += [run_worker(server, holder, rows, b) for b in BATCHES]
            measured.append(run_obvious_batch(server.url, holder, rows))
            measured.append(run_naive(server.url, holder, rows[:NAIVE_ROWS]))
    parameters = {
        "rows": ROWS,
        "naive_rows": NAIVE_ROWS,
        "batches": list(BATCHES),
        "shards": SHARDS,
        "model": holder.current.card.get("detector"),
    }
    figures = {"results": measured, "cpu_us_per_row": dict(breakdown)}
    results.write("scorer", figures, parameters, load_before)
    render.print_tables("scorer")


if __name__ == "__main__":
    main()
