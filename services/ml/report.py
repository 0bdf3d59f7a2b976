"""The comparison report: ``comparison.md``, ``comparison.json`` and small PNG plots."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

JSON_FILE = "comparison.json"
MARKDOWN_FILE = "comparison.md"
PLOTS = ("pr_curves.png", "roc_curves.png", "score_by_scenario.png")


def champion_of(outcomes: list[Any]) -> str:
    """Best unsupervised detector by Average Precision (then recall at 1 %)."""
    candidates = [o for o in outcomes if not o.supervised]
    if not candidates:
        return ""
    best = max(
        candidates,
        key=lambda o: (o.figures["average_precision"] or 0, o.figures["recall_at_1.0%"] or 0),
    )
    return str(best.name)


def write_report(out: Path, data: Path, prepared: dict[str, Any], outcomes: list[Any]) -> dict:
    """Write the JSON of every figure, the Markdown report and the plots under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    champion = champion_of(outcomes)
    summary = {
        "data_file": data.name,
        "data_sha256": prepared["data_sha256"],
        "rows": prepared["rows"],
        "split": prepared["window"],
        "fraud_in_test": int(prepared["y_test"].sum()),
        "features": prepared["names"],
        "champion": champion,
        "detectors": {o.name: {"supervised": o.supervised, **o.figures} for o in outcomes},
    }
    (out / JSON_FILE).write_text(json.dumps(summary, indent=2, default=_plain) + "\n")
    _plots(out, prepared, outcomes)
    (out / MARKDOWN_FILE).write_text(markdown(summary))
    return summary


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value).__name__)


def _pct(value: Any) -> str:
    return (
        "–"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (f"{value:.3f}")
    )


def markdown(summary: dict[str, Any]) -> str:
    """The report as Markdown: protocol, one table of figures, recall per scenario, plots."""
    split = summary["split"]
    lines = [
        "# Detector comparison",
        "",
        f"Data: `{summary['data_file']}` ({summary['rows']:,} transactions, "
        f"sha256 `{summary['data_sha256'][:12]}`). Time-ordered split: train "
        f"{split['train_from'][:16]} → {split['train_to'][:16]} ({split['train_rows']:,} rows), "
        f"feedback delay, test {split['test_from'][:16]} → {split['test_to'][:16]} "
        f"({split['test_rows']:,} rows, {summary['fraud_in_test']} frauds). "
        f"Features: {len(summary['features'])} per-card features (`rtad.features.card_features`).",
        "",
        f"**Champion (best unsupervised by Average Precision): `{summary['champion']}`.** "
        "Supervised detectors use the labels and are the upper bound, not candidates.",
        "",
        "| detector | kind | AP | ROC-AUC | CP@100/day | P@0.5% | R@0.5% | P@1% | R@1% "
        "| fit s | score rows/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    ranked = sorted(
        summary["detectors"].items(),
        key=lambda kv: (kv[1]["supervised"], -(kv[1]["average_precision"] or 0)),
    )
    for name, f in ranked:
        kind = "supervised" if f["supervised"] else "unsupervised"
        lines.append(
            f"| `{name}` | {kind} | {_pct(f['average_precision'])} | {_pct(f['roc_auc'])} | "
            f"{_pct(f['card_precision_at_100'])} | {_pct(f['precision_at_0.5%'])} | "
            f"{_pct(f['recall_at_0.5%'])} | {_pct(f['precision_at_1.0%'])} | "
            f"{_pct(f['recall_at_1.0%'])} | {f['fit_seconds']:.1f} | "
            f"{f['score_rows_per_second']:,.0f} |"
        )
    lines += ["", "## Recall per fraud scenario at a 1 % alert budget", ""]
    scenarios = sorted({s for _, f in ranked for s in f["recall_by_scenario_at_1.0%"]})
    lines.append("| detector | " + " | ".join(scenarios) + " |")
    lines.append("|---|" + "---|" * len(scenarios))
    for name, f in ranked:
        recall = f["recall_by_scenario_at_1.0%"]
        lines.append(f"| `{name}` | " + " | ".join(_pct(recall.get(s)) for s in scenarios) + " |")
    lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in PLOTS] + [""]
    return "\n".join(lines)


def _plots(out: Path, prepared: dict[str, Any], outcomes: list[Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    y = prepared["y_test"]
    for filename, curve, labels in (
        ("pr_curves.png", precision_recall_curve, ("recall", "precision")),
        ("roc_curves.png", roc_curve, ("false positive rate", "true positive rate")),
    ):
        fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=80)
        for o in outcomes:
            a, b, _ = curve(y, o.scores)
            x_values, y_values = (b, a) if curve is precision_recall_curve else (a, b)
            style = "--" if o.supervised else "-"
            ax.plot(x_values, y_values, style, lw=1.2, label=o.name)
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
        ax.legend(fontsize=7, loc="best")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / filename)
        plt.close(fig)
    _scenario_plot(out, prepared, outcomes, plt)


def _scenario_plot(out: Path, prepared: dict[str, Any], outcomes: list[Any], plt: Any) -> None:
    """Share of test rows scoring higher (log scale) per scenario, one panel per detector."""
    scenarios = prepared["scenarios"]
    names = sorted(set(scenarios.tolist()), key=lambda s: (s != "genuine", s))
    cols = 4
    rows = math.ceil(len(outcomes) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(12, 2.6 * rows), dpi=60, squeeze=False)
    for ax, o in zip(axes.flat, outcomes, strict=False):
        n = len(o.scores)
        above = 1 - np.argsort(np.argsort(o.scores, kind="stable")) / n  # 1/n = the top row
        ax.boxplot([above[scenarios == s] for s in names], vert=False, showfliers=False)
        ax.set_xscale("log")
        ax.set_xlim(1, 1 / n)
        ax.set_yticks(range(1, len(names) + 1), [s[:14] for s in names], fontsize=7)
        ax.set_title(o.name, fontsize=9)
        ax.axvline(0.01, color="red", lw=0.8)  # the 1 % alert budget
    for ax in list(axes.flat)[len(outcomes) :]:
        ax.axis("off")
    fig.suptitle("share of test rows scoring higher, per scenario (red: 1 % budget)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "score_by_scenario.png")
    plt.close(fig)
