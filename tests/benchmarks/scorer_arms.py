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
#: rows a batch reads: the scorer's default (RTAD_BATCH_COUNT a shard, every shard full, as
#: under a backlog), and a quarter of it
DEFAULT_BATCH = ScorerSettings.model_fields["batch_count"].default * SHARDS
BATCHES = (DEFAULT_BATCH, DEFAULT_BATCH // 4)
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
    server: LocalRedis,
    champion: Path,
    arm: str,
    shadow: Path | None,
    rows: list[dict],
    run: int,
    batch: int,
) -> dict[str, Any]:
    """One arm on fresh streams: fill (not timed), then drain with one worker."""
    client = redis.Redis.from_url(server.url)
    settings = worker_settings(
        server.url, f"arms{run}", batch, quality_enabled=shadow is not None, challenger_path=shadow
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
        "batch": batch,
        "rows": len(rows),
        "rows_per_s": len(rows) / wall,
        "cpu_us_per_row": cpu / len(rows) * 1e6,
        "redis_cpu_us_per_row": redis_cpu / len(rows) * 1e6,
        "verdicts_waiting": verdicts,
    }


def table(arms: dict[int, dict[str, dict[str, float]]]) -> dict[str, Any]:
    """The rendered table (``tests.benchmarks.render``): one row per batch size and arm."""
    rows = []
    for batch, by_arm in arms.items():
        for arm, f in by_arm.items():
            rows.append([
                batch, arm, round(f["rows_per_s"]), f"{f['over_plain']:.2f}",
                round(f["cpu_us_per_row"], 1), f"{f['over_plain_by_cpu']:.2f}",
            ])  # fmt: skip
    return {
        "title": "Median of the alternated runs",
        "columns": [
            "batch (rows)",
            "arm",
            "rows/s",
            "of plain",
            "CPU µs a row (worker + redis)",
            "of plain by CPU",
        ],
        "rows": rows,
        "note": f"target: at least {TARGET:.0%} of the plain arm's throughput; batch "
        f"{DEFAULT_BATCH} is the scorer's default (RTAD_BATCH_COUNT a shard)",
    }


def summarise(runs: list[dict[str, Any]], arms: list[str]) -> dict[int, dict[str, dict]]:
    """Per batch size and arm: median rows/s, median CPU a row (the worker's threads and
    redis-server's: what the arm keeps of the plain arm's throughput where CPU is the limit,
    which moves far less with the machine's load), and both over the plain arm's."""
    out: dict[int, dict[str, dict]] = {}
    for batch in BATCHES:
        mine = [r for r in runs if r["batch"] == batch]
        by_arm = {}
        for arm in arms:
            of_arm = [r for r in mine if r["arm"] == arm]
            by_arm[arm] = {
                "rows_per_s": statistics.median(r["rows_per_s"] for r in of_arm),
                "cpu_us_per_row": statistics.median(
                    r["cpu_us_per_row"] + r["redis_cpu_us_per_row"] for r in of_arm
                ),
            }
        plain = by_arm["plain"]
        for f in by_arm.values():
            f["over_plain"] = f["rows_per_s"] / plain["rows_per_s"]
            f["over_plain_by_cpu"] = plain["cpu_us_per_row"] / f["cpu_us_per_row"]
        out[batch] = by_arm
    return out


def compare_arms(workdir: Path, champion: Path, rows: list[dict]) -> None:
    """Alternate the arms ``ROUNDS`` times at each batch size and write the results file."""
    load_before = results.load_now()
    arms: dict[str, Path | None] = {"plain": None, **challengers(workdir, champion)}
    sample = rows[:ROWS]
    runs: list[dict[str, Any]] = []
    with LocalRedis(workdir / "redis-arms") as server:
        for round_ in range(ROUNDS):
            for batch in BATCHES:
                for arm, path in arms.items():
                    runs.append(run_arm(server, champion, arm, path, sample, len(runs), batch))
                    print(f"round {round_ + 1}, batch {batch}: {arm} "
                          f"{runs[-1]['rows_per_s']:,.0f} rows/s")  # fmt: skip
    summary = summarise(runs, list(arms))
    default = summary[DEFAULT_BATCH]
    parameters = {
        "rows_per_arm": len(sample),
        "rounds": ROUNDS,
        "batches": list(BATCHES),
        "default_batch": DEFAULT_BATCH,
        "shards": SHARDS,
        "encoding": 2,
        "champion": str(champion),
        "challengers": {a: str(p) for a, p in arms.items() if p is not None},
        "verdict_every_rows": VERDICT_EVERY,
    }
    figures = {
        "table": table(summary),
        "by_batch": {str(b): v for b, v in summary.items()},
        "over_plain": {a: f["over_plain"] for a, f in default.items() if a != "plain"},
        "over_plain_by_cpu": {
            a: f["over_plain_by_cpu"] for a, f in default.items() if a != "plain"
        },
        "target_at_least": TARGET,
        "meets_target": {a: f["over_plain"] >= TARGET for a, f in default.items() if a != "plain"},
    }
    title = "Scorer throughput with a challenger in shadow and the label consumer on"
    extra = {"title": title, "runs": runs}
    path = results.write(
        "scorer-shadow", figures, parameters, load_before, command=COMMAND, extra=extra
    )
    for batch, by_arm in summary.items():
        shown = ", ".join(
            f"{a} / plain = {f['over_plain']:.2f} (by CPU a row {f['over_plain_by_cpu']:.2f})"
            for a, f in by_arm.items()
            if a != "plain"
        )
        print(f"batch {batch}: {shown} (target >= {TARGET})")
    print(f"written to {path}")
