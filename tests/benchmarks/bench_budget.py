"""The alert budget holds alerts per hour when the fraud rate changes halfway.

    .venv/bin/python -m tests.benchmarks budget

Simulated transactions (the generator's simulator, 2,000 cards) over ``DAYS`` days of event
time: the first half at fraud rate ``LOW``, the second at ``HIGH``. Their features come from
``batch_features`` (the streaming job's code); one :class:`ScoringWorker` in budget mode
(``RTAD_ALERT_MODE=budget``) scores them in event-time order from a private redis-server,
with the champion of ``models/champion``. Alerts are counted per hour of event time from the
alerts stream; the first day is the warm-up (the window is not full yet) and is left out.
Beside them, from the same scores, the alerts the model's fixed threshold would have raised,
and decision 0007's controllers replayed on them (:mod:`tests.benchmarks.budget_alternatives`).
Results: ``docs/benchmarks/results/budget.json`` (figures, parameters, command).

``RTAD_BENCH_BUDGET_SEED`` (1) seeds the simulation, ``RTAD_BENCH_BUDGET_DAYS`` (8, at least 4:
a warm-up day, then a whole day at each rate) sets its length, ``RTAD_BENCH_BUDGETS``
(``10,5``) the budgets, in alerts per hour.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import zlib
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import redis

from rtad.common.local_redis import LocalRedis
from rtad.common.streams import shard_of
from rtad.generator.simulator import DEFAULT_START, SimConfig, generate_records
from rtad.scorer.alert_budget import event_ms
from rtad.scorer.model_holder import ModelHolder
from rtad.scorer.settings import ScorerSettings
from rtad.scorer.worker.loop import ScoringWorker
from tests.benchmarks import budget_alternatives, results
from tests.unit.scorer.support import feature_rows, publish, read_stream, transactions


def env_int(name: str, default: int) -> int:
    """An integer setting of the benchmark from the environment (one line when it is not)."""
    text = os.environ.get(name, str(default))
    try:
        return int(text)
    except ValueError:
        raise SystemExit(f"{name}={text!r}: not an integer") from None


def env_budgets(name: str, default: str) -> tuple[float, ...]:
    """Alerts per hour, comma-separated, each above zero (one line when they are not)."""
    text = os.environ.get(name, default)
    try:
        budgets = tuple(float(b) for b in text.split(","))
    except ValueError:
        budgets = ()
    if not budgets or min(budgets) <= 0:
        raise SystemExit(f"{name}={text!r}: not a comma-separated list of alerts per hour > 0")
    return budgets


DAYS = env_int("RTAD_BENCH_BUDGET_DAYS", 8)
#: the simulation's seed (the same card population and frauds for every budget)
SEED = env_int("RTAD_BENCH_BUDGET_SEED", 1)
#: a warm-up day, then at least a whole day in each half
MIN_DAYS = 4
CARDS = 2000
LOW, HIGH = 0.005, 0.03
#: alerts an hour: above the second half's fraud volume (about 7.5 an hour), as analysts'
#: capacity is in the Fraud Detection Handbook's setting, and below it
BUDGETS = env_budgets("RTAD_BENCH_BUDGETS", "10,5")
SHARDS = 4
#: rows a shard's batch reads, the replay's too (:data:`budget_alternatives.BATCH`)
BATCH_PER_SHARD = budget_alternatives.BATCH
TOLERANCE = 0.2
CHAMPION = Path("models/champion")
COMMAND = ".venv/bin/python -m tests.benchmarks budget"
HOUR_MS = 3_600_000


def simulate(path: Path) -> Path:
    """``DAYS`` days of one card population at fraud rate HIGH, of which the first half keeps
    the frauds of one compromised card in ``HIGH / LOW`` only: the rate steps up halfway
    while the cards and their histories go on."""
    half = DEFAULT_START + timedelta(days=DAYS / 2)
    end = DEFAULT_START + timedelta(days=DAYS)
    keep_one_in = round(HIGH / LOW)
    config = SimConfig(seed=SEED, count=None, customers=CARDS, fraud_rate=HIGH)
    with path.open("wb") as out:
        for record in generate_records(config):
            when = datetime.fromisoformat(record["timestamp"])
            if when >= end:
                break
            dropped = zlib.crc32(record["user_id"].encode()) % keep_one_in != 0
            if record.get("is_fraud") and when < half and dropped:
                continue
            out.write(orjson.dumps(record) + b"\n")
    return path


def run(
    rows: list[dict[str, Any]], workdir: Path, budget: float
) -> tuple[list[dict], list[dict], float]:
    """Score every row in event-time order with a budget worker; (scores, alerts, fixed)."""
    with LocalRedis(workdir / f"redis-{budget:g}") as server:
        settings = ScorerSettings(
            redis_url=server.url,
            shards=SHARDS,
            batch_count=BATCH_PER_SHARD,
            block_ms=50,
            alert_mode="budget",
            alert_budget_per_hour=budget,
            quality_enabled=False,
            claim_interval_s=3600,
            maintenance_interval_s=3600,
        )
        client = redis.Redis.from_url(server.url)
        holder = ModelHolder(CHAMPION)
        worker = ScoringWorker(client, settings, holder)
        for start in range(0, len(rows), 2000):  # in order, so each threshold is causal
            publish(client, settings.streams, rows[start : start + 2000])
            while worker.scored < min(start + 2000, len(rows)):
                worker.step()
        worker.close()
        scores = read_stream(client, settings.streams, "scores")
        alerts = read_stream(client, settings.streams, "alerts")
    return scores, alerts, float(holder.current.threshold)


def per_hour(times_ms: list[int], first_ms: int, last_ms: int) -> list[int]:
    counts = Counter((t - first_ms) // HOUR_MS for t in times_ms if first_ms <= t < last_ms)
    return [counts.get(h, 0) for h in range((last_ms - first_ms) // HOUR_MS)]


def figures(scores: list[dict], alerts: list[dict], fixed: float, budget: float) -> dict[str, Any]:
    """Alerts per hour after the warm-up day, per half, budget and fixed threshold."""
    start = event_ms(DEFAULT_START.isoformat())
    half, end = start + DAYS * 12 * HOUR_MS, start + DAYS * 24 * HOUR_MS
    budget_times = [event_ms(a["event_time"]) for a in alerts]
    fixed_times = [event_ms(s["event_time"]) for s in scores if s["score"] >= fixed]
    out: dict[str, Any] = {}
    for name, (lo, hi) in {
        "after_warm_up": (start + 24 * HOUR_MS, end),
        "low_fraud_half": (start + 24 * HOUR_MS, half),
        "high_fraud_half": (half, end),
    }.items():
        hours = per_hour(budget_times, lo, hi)
        days = [sum(hours[d : d + 24]) / 24 for d in range(0, len(hours) - 23, 24)]
        mean = statistics.fmean(hours)
        out[name] = {
            "hours": len(hours),
            "budget_alerts_per_hour": mean,
            "budget_deviation": mean / budget - 1,
            "budget_alerts_per_hour_by_day": days,
            "days_within_tolerance": sum(abs(d / budget - 1) <= TOLERANCE for d in days),
            "fixed_alerts_per_hour": statistics.fmean(per_hour(fixed_times, lo, hi)),
        }
    whole = out["after_warm_up"]
    out["within_tolerance"] = all(
        abs(out[k]["budget_deviation"]) <= TOLERANCE
        for k in ("after_warm_up", "low_fraud_half", "high_fraud_half")
    )
    out["transactions"] = len(scores)
    out["frauds"] = sum(1 for s in scores if s.get("is_fraud"))
    whole["hours_with_no_alert"] = sum(1 for h in per_hour(budget_times, start, end) if h == 0)
    return out


def recorded(scores: list[dict], fixed: float) -> budget_alternatives.Run:
    """(event ms, scores, shards, frauds, fixed threshold) of a run, sorted by event time:
    what :func:`budget_alternatives.compare` replays."""
    rows = sorted(scores, key=lambda s: event_ms(s["event_time"]))
    return (
        np.array([event_ms(s["event_time"]) for s in rows], dtype=np.int64),
        np.array([s["score"] for s in rows], dtype=np.float64),
        np.array([shard_of(s["user_id"], SHARDS) for s in rows]),
        np.array([bool(s.get("is_fraud")) for s in rows]),
        fixed,
    )


def main() -> None:
    if DAYS < MIN_DAYS:
        raise SystemExit(
            f"RTAD_BENCH_BUDGET_DAYS={DAYS}: at least {MIN_DAYS} days are needed "
            "(a warm-up day, then a whole day at each fraud rate)"
        )
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    by_budget: dict[str, Any] = {}
    runs: budget_alternatives.Recorded = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        rows = feature_rows(transactions(simulate(workdir / "tx.jsonl")))
        rows.sort(key=lambda r: event_ms(r["event_time"]))
        for budget in BUDGETS:
            scores, alerts, fixed = run(rows, workdir, budget)
            by_budget[f"{budget:g}"] = figures(scores, alerts, fixed, budget)
            runs[budget] = recorded(scores, fixed)
    start = event_ms(DEFAULT_START.isoformat())
    window_s = ScorerSettings.model_fields["alert_budget_window_s"].default
    alternatives = budget_alternatives.compare(runs, SHARDS, window_s, start, DAYS)
    parameters = {
        "days": DAYS,
        "seed": SEED,
        "cards": CARDS,
        "fraud_rate_first_half": LOW,
        "fraud_rate_second_half": HIGH,
        "budgets_per_hour": list(BUDGETS),
        "budget_window_s": window_s,
        "shards": SHARDS,
        "batch_rows_per_shard": BATCH_PER_SHARD,
        "tolerance": TOLERANCE,
        "warm_up_days": 1,
        "model": str(CHAMPION),
        **budget_alternatives.PARAMETERS,
    }
    title = "Alert budget: alerts per hour when the fraud rate changes halfway"
    extra = {"title": title, "seconds": round(time.perf_counter() - started)}
    measured = {"by_budget": by_budget, "alternatives": alternatives}
    path = results.write("budget", measured, parameters, load_before, command=COMMAND, extra=extra)
    for budget, result in by_budget.items():
        for name in ("after_warm_up", "low_fraud_half", "high_fraud_half"):
            row = result[name]
            print(
                f"budget {budget}/h, {name}: {row['budget_alerts_per_hour']:.2f}/h "
                f"({row['budget_deviation']:+.1%}), "
                f"fixed threshold {row['fixed_alerts_per_hour']:.2f}/h"
            )
        print(f"budget {budget}/h within ±{TOLERANCE:.0%}: {result['within_tolerance']}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
