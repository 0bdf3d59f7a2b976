"""The scorer's throughput with and without the feedback loop, two arms of one run.

    RTAD_BENCH_SCORER_ARMS_ONLY=1 .venv/bin/python -m tests.benchmarks scorer

Arm ``plain``: the champion alone, the label consumer off. The shadow arms run the same
worker with a challenger scoring every entry in the same commit and the label consumer on,
with one verdict a hundred transactions waiting in the labels streams: ``shadow-challenger``
with the challenger ``rtad train --labels`` makes (:func:`rtad.ml.feedback_train.
train_challenger`: gradient boosting on the features and the champion's score, trained on
simulated investigators' verdicts; it takes the champion's scores of the batch instead of
scoring the champion again), ``shadow-same`` with a second copy of the champion's artifact
(an unsupervised challenger as costly as the champion, scored in full). The arms alternate on
one private redis-server, each on fresh streams filled before the clock starts; the figures
are the ratios of the median rows/s to the plain arm's, and of the CPU a row (worker and
redis-server), which a shared machine's load moves far less.
Results: ``docs/benchmarks/results/scorer-shadow.json``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import redis

from rtad.common.labels import Label, encode_label
from rtad.common.local_redis import LocalRedis
from rtad.scorer.model_holder import ModelHolder
from rtad.scorer.settings import ScorerSettings
from rtad.scorer.worker.loop import ScoringWorker, tune_process
from tests.benchmarks import results
from tests.benchmarks.bench_scorer import SHARDS, fill, server_cpu, worker_settings
from tests.unit.scorer.support import feature_rows, transactions, write_transactions

ROWS = int(os.environ.get("RTAD_BENCH_ARMS_ROWS", "60000"))
ROUNDS = int(os.environ.get("RTAD_BENCH_ARMS_ROUNDS", "3"))
BATCH = 1000
VERDICT_EVERY = 100
#: simulated transactions the challenger is trained on (about a hundred days of 80 cards)
TRAINING_ROWS = 30_000
TARGET = 0.8
COMMAND = "RTAD_BENCH_SCORER_ARMS_ONLY=1 .venv/bin/python -m tests.benchmarks scorer"


def challengers(workdir: Path, champion: Path) -> dict[str, Path]:
    """The shadow arms' challengers: one trained on verdicts, and the champion's artifact
    again."""
    from rtad.ml.feedback_train import train_challenger

    data = write_transactions(workdir / "history.jsonl", seed=8, count=TRAINING_ROWS)
    labels = write_verdicts(workdir / "verdicts.jsonl", data, champion)
    trained = workdir / "challenger"
    train_challenger(data, str(labels), champion, trained)
    same = workdir / "same"
    shutil.copytree(champion, same)
    return {"shadow-challenger": trained, "shadow-same": same}


def write_verdicts(path: Path, data: Path, champion: Path) -> Path:
    """What simulated investigators would have said about ``data``: a verdict on every
    transaction the champion alerted, a chargeback on every fraud it missed."""
    from rtad.ml.model_store import load_model

    model = load_model(champion)
    rows = feature_rows(transactions(data))
    X = np.array([[row["features"][name] for name in model.feature_names] for row in rows])
    alerted = model.score(X) >= model.threshold
    with path.open("wb") as out:
        for row, seen in zip(rows, alerted.tolist(), strict=True):
            fraud = bool(row.get("is_fraud"))
            if seen or fraud:
                label = Label(
                    transaction_id=row["transaction_id"],
                    user_id=row["user_id"],
                    verdict="fraud" if fraud else "genuine",
                    source="analyst" if seen else "chargeback",
                )
                out.write(encode_label(label) + b"\n")
    return path


def send_verdicts(client: redis.Redis, settings: ScorerSettings, rows: list[dict]) -> int:
    """One verdict every ``VERDICT_EVERY`` rows, on the labels streams (the consumer's work)."""
    pipe = client.pipeline(transaction=False)
    sent = 0
    for row in rows[::VERDICT_EVERY]:
        label = Label(
            transaction_id=row["transaction_id"],
            user_id=row["user_id"],
            verdict="fraud" if row.get("is_fraud") else "genuine",
            source="simulated",
        )
        key = settings.streams.for_user("labels", row["user_id"])
        pipe.xadd(key, {"v": "1", "d": encode_label(label)})  # type: ignore[arg-type]
        sent += 1
    pipe.execute()
    return sent


def run_arm(
    server: LocalRedis, champion: Path, arm: str, shadow: Path | None, rows: list[dict], run: int
) -> dict[str, Any]:
    """One arm on fresh streams: fill (not timed), then drain with one worker."""
    client = redis.Redis.from_url(server.url)
    settings = worker_settings(
        server.url, f"arms{run}", BATCH, quality_enabled=shadow is not None, challenger_path=shadow
    )
    holder = ModelHolder(champion, challenger_path=shadow)
    worker = ScoringWorker(client, settings, holder)
    fill(client, settings.streams, rows)
    verdicts = send_verdicts(client, settings, rows) if shadow is not None else 0
    tune_process(settings.blas_threads)
    started, cpu, redis_cpu = time.perf_counter(), time.process_time(), server_cpu(server)
    while worker.scored < len(rows):
        worker.step()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    redis_cpu = server_cpu(server) - redis_cpu
    worker.close()
    names = settings.streams
    assert sum(client.xlen(k) for k in names.all("scores")) == len(rows)
    if shadow is not None:
        shadow_rows = sum(
            len(orjson.loads(fields[b"d"])["transaction_id"])
            for key in names.all("challenger-scores")
            for _id, fields in client.xrange(key)
        )
        assert shadow_rows == len(rows), (shadow_rows, len(rows))
    client.flushall()
    return {
        "arm": arm,
        "rows": len(rows),
        "rows_per_s": len(rows) / wall,
        "cpu_us_per_row": cpu / len(rows) * 1e6,
        "redis_cpu_us_per_row": redis_cpu / len(rows) * 1e6,
        "verdicts_waiting": verdicts,
    }


def table(
    median: dict[str, float],
    ratios: dict[str, float],
    cpu: dict[str, float],
    cpu_ratios: dict[str, float],
) -> dict[str, Any]:
    """The rendered table (``tests.benchmarks.render``): one row per arm."""
    return {
        "title": "Median of the alternated runs",
        "columns": [
            "arm",
            "rows/s",
            "of plain",
            "CPU µs a row (worker + redis)",
            "of plain by CPU",
        ],
        "rows": [
            [
                arm,
                round(median[arm]),
                f"{ratios.get(arm, 1.0):.2f}",
                round(cpu[arm], 1),
                f"{cpu_ratios.get(arm, 1.0):.2f}",
            ]  # fmt: skip
            for arm in median
        ],
        "note": f"target: at least {TARGET:.0%} of the plain arm's throughput",
    }


def compare_arms(workdir: Path, champion: Path, rows: list[dict]) -> None:
    """Alternate the arms ``ROUNDS`` times and write the results file."""
    load_before = results.load_now()
    arms: dict[str, Path | None] = {"plain": None, **challengers(workdir, champion)}
    sample = rows[:ROWS]
    runs: list[dict[str, Any]] = []
    with LocalRedis(workdir / "redis-arms") as server:
        for round_ in range(ROUNDS):
            for arm, path in arms.items():
                runs.append(run_arm(server, champion, arm, path, sample, len(runs)))
                print(f"round {round_ + 1}: {arm} {runs[-1]['rows_per_s']:,.0f} rows/s")
    median = {a: statistics.median(r["rows_per_s"] for r in runs if r["arm"] == a) for a in arms}
    ratios = {a: median[a] / median["plain"] for a in arms if a != "plain"}
    # CPU a row (the worker's threads and redis-server's): what the arm keeps of the plain
    # arm's throughput where CPU is the limit; it moves far less with the machine's load
    cpu = {
        a: statistics.median(
            r["cpu_us_per_row"] + r["redis_cpu_us_per_row"] for r in runs if r["arm"] == a
        )
        for a in arms
    }
    cpu_ratios = {a: cpu["plain"] / cpu[a] for a in arms if a != "plain"}
    parameters = {
        "rows_per_arm": len(sample),
        "rounds": ROUNDS,
        "batch": BATCH,
        "shards": SHARDS,
        "encoding": 2,
        "champion": str(champion),
        "challengers": {a: str(p) for a, p in arms.items() if p is not None},
        "verdict_every_rows": VERDICT_EVERY,
    }
    figures = {
        "table": table(median, ratios, cpu, cpu_ratios),
        "rows_per_s_median": median,
        "over_plain": ratios,
        "cpu_us_per_row_median": cpu,
        "over_plain_by_cpu": cpu_ratios,
        "target_at_least": TARGET,
        "meets_target": {a: r >= TARGET for a, r in ratios.items()},
    }
    title = "Scorer throughput with a challenger in shadow and the label consumer on"
    extra = {"title": title, "runs": runs}
    path = results.write(
        "scorer-shadow", figures, parameters, load_before, command=COMMAND, extra=extra
    )
    shown = ", ".join(
        f"{a} / plain = {r:.2f} (by CPU a row {cpu_ratios[a]:.2f})" for a, r in ratios.items()
    )
    print(f"{shown} (target >= {TARGET}); written to {path}")
