"""``rtad compare --feedback-loop``: run the replay, write ``feedback_loop.{json,md,png}``.

Data: a labelled file (``--data``), or ``days`` of generated transactions (seeded).
"""

from __future__ import annotations

import json
import math
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from rtad.ml.feedback_replay import LoopConfig

JSON_FILE = "feedback_loop.json"
MARKDOWN_FILE = "feedback_loop.md"
PLOT_FILE = "feedback_loop.png"


def generate_days(path: Path, days: int, customers: int, seed: int, fraud_rate: float) -> Path:
    """``days`` of generated transactions (every scenario) into a Parquet file."""
    from datetime import datetime

    from rtad.generator.simulator import DEFAULT_START, SimConfig, generate_records
    from rtad.generator.sinks import ParquetSink

    config = SimConfig(seed=seed, count=None, customers=customers, fraud_rate=fraud_rate)
    end = DEFAULT_START + timedelta(days=days)
    sink = ParquetSink(path)
    try:
        for record in generate_records(config):
            if datetime.fromisoformat(record["timestamp"]) >= end:
                break
            sink.write(record)
    finally:
        sink.close()
    return path


def run(data: Path, champion_path: Path, out: Path, config: LoopConfig) -> dict[str, Any]:
    """Replay the loop (and the single-cut holdout) on ``data``; write and return the report."""
    from rtad.ml.feedback_replay import holdout, parameters, prepare, replay_loop, simulate_verdicts
    from rtad.ml.model_store import load_model

    started = time.perf_counter()
    champion = load_model(champion_path)
    prepared = prepare(data, champion)
    labels = simulate_verdicts(prepared, config)
    report = {
        "data_file": data.name,
        "rows": len(prepared.truth),
        "frauds": int(prepared.truth.sum()),
        "days": prepared.days,
        "champion": champion.version,
        "parameters": parameters(config),
        "verdicts": _verdict_counts(labels),
        "holdout": holdout(prepared, labels, champion, config),
        "loop": replay_loop(prepared, labels, champion, config),
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / JSON_FILE).write_text(json.dumps(report, indent=2, default=_plain) + "\n")
    (out / MARKDOWN_FILE).write_text(markdown(report))
    plot(report, out / PLOT_FILE)
    return report


def _verdict_counts(labels: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for label in labels:
        key = f"{label.source}_{label.verdict}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def _verdict_text(counts: dict[str, int]) -> str:
    """``{"simulated_fraud": 3, ...}`` as words: "3 fraud, ... from analysts, ... chargebacks"."""
    return ", ".join(f"{n} {key.replace('_', ' ')}" for key, n in sorted(counts.items()))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value).__name__)


def _f(value: Any) -> str:
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    return "–" if missing else f"{value:.3f}"


def holdout_table(holdout: dict[str, Any]) -> list[str]:
    """The holdout's champion and challenger figures as a Markdown table (one line a row)."""
    lines = ["| model | AP | CP@100/day | recall@1% |", "|---|---|---|---|"]
    for name in ("champion", "challenger"):
        f = holdout[name]
        lines.append(
            f"| {name} | {_f(f['average_precision'])} | {_f(f['card_precision_at_100'])} | "
            f"{_f(f['recall_at_1.0%'])} |"
        )
    return lines


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: protocol, the holdout, one row per retraining."""
    p, h = report["parameters"], report["holdout"]
    lines = [
        "# Feedback loop: champion vs challenger",
        "",
        f"Data: `{report['data_file']}` ({report['rows']:,} transactions, {report['frauds']} "
        f"frauds, {report['days']} days). Investigators review the champion's top "
        f"{p['capacity']} transactions a day, verdicts {p['analyst_delay_days']:g} day(s) later; "
        f"missed frauds come back as chargebacks after {p['chargeback_delay_days']:g} days. "
        f"Verdicts given: {_verdict_text(report['verdicts'])}.",
        "",
        f"## Holdout: trained on day {h['train_days']}, tested on the next {h['test_days']} days",
        "",
        *holdout_table(h),
    ]
    scenarios = sorted(h["champion"]["recall_by_scenario"])
    lines += ["", "Recall per scenario at a 1 % alert budget:", ""]
    lines += ["| model | " + " | ".join(scenarios) + " |", "|---|" + "---|" * len(scenarios)]
    for name in ("champion", "challenger"):
        recall = h[name]["recall_by_scenario"]
        lines.append(f"| {name} | " + " | ".join(_f(recall.get(s)) for s in scenarios) + " |")
    lines += [
        "",
        f"## Retrained every {p['retrain_every']} days",
        "",
        "| from day | verdicts | AP champion | AP challenger | CP@100 champion "
        "| CP@100 challenger |",
        "|---|---|---|---|---|---|",
    ]
    for row in report["loop"]:
        c, d = row["champion"], row["challenger"]
        lines.append(
            f"| {row['day']} | {row['training']['verdicts']} | {_f(c['average_precision'])} | "
            f"{_f(d['average_precision'])} | {_f(c['card_precision_at_100'])} | "
            f"{_f(d['card_precision_at_100'])} |"
        )
    return "\n".join([*lines, "", f"![feedback loop]({PLOT_FILE})", ""])


def plot(report: dict[str, Any], path: Path) -> None:
    """AP and CP@100 of both models against the day of retraining."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = [row["day"] for row in report["loop"]]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=80)
    for ax, key, title in (
        (axes[0], "average_precision", "Average Precision"),
        (axes[1], "card_precision_at_100", "Card Precision@100 per day"),
    ):
        for name, style in (("champion", "-o"), ("challenger", "-s")):
            ax.plot(days, [row[name][key] for row in report["loop"]], style, label=name, ms=4)
        ax.set_xlabel("day of retraining (tested on the following days)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
