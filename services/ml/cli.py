"""``rtad train`` and ``rtad compare``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def train(
    data: Annotated[Path, typer.Option(help="Transaction file (JSONL, CSV or Parquet).")],
    out: Annotated[Path, typer.Option(help="Artifact directory to write.")],
    detector: Annotated[
        str | None,
        typer.Option(help="Detector name (default: the comparison's champion, card_tails)."),
    ] = None,
    alert_rate: Annotated[
        float, typer.Option(help="Share of transactions the threshold alerts on.")
    ] = 0.005,
    seed: Annotated[int, typer.Option(help="Random seed of the detector.")] = 0,
    comparison: Annotated[
        Path | None,
        typer.Option(help="comparison.json whose held-out figures go into the model card."),
    ] = None,
) -> None:
    """Fit a detector on a transaction file and write the artifact and its model card."""
    from rtad.ml.train import train as run

    card = run(data, out, detector, alert_rate, seed, comparison)
    typer.echo(
        f"wrote {out}: {card['detector']} on {card['training']['rows']:,} transactions, "
        f"threshold {card['threshold']:.4g} (alerts on {card['alert_rate']:.2%})"
    )


def compare(
    data: Annotated[Path, typer.Option(help="Labelled transaction file (JSONL, CSV, Parquet).")],
    out: Annotated[Path, typer.Option(help="Report directory.")] = Path("models/report"),
    detector: Annotated[
        list[str] | None, typer.Option(help="Only these detectors (repeatable; default: all).")
    ] = None,
    train_share: Annotated[float, typer.Option(help="Share of the period to train on.")] = 0.5,
    delay_share: Annotated[
        float, typer.Option(help="Share of the period skipped as feedback delay.")
    ] = 0.1,
    seed: Annotated[int, typer.Option(help="Random seed of the detectors.")] = 0,
) -> None:
    """Compare detectors on a time-ordered split and write the report."""
    from rtad.common.errors import RtadError
    from rtad.ml.compare import TimeSplit
    from rtad.ml.compare import compare as run

    if not (0 < train_share < 1 and 0 <= delay_share < 1 - train_share):
        raise RtadError("need 0 < --train-share < 1 and 0 <= --delay-share < 1 - train share")
    summary = run(data, out, detector, TimeSplit(train_share, delay_share), seed)
    best = summary["detectors"].get(summary["champion"], {})
    typer.echo(
        f"wrote {out}/comparison.md: champion {summary['champion']} "
        f"(AP {best.get('average_precision', 0):.3f}, "
        f"recall@1% {best.get('recall_at_1.0%', 0):.3f})"
    )
