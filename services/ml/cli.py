"""``rtad train`` and ``rtad compare``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rtad.common.errors import NotImplementedYet


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
) -> None:
    """Fit a detector on a transaction file and write the artifact and its model card."""
    from rtad.ml.train import train as run

    card = run(data, out, detector=detector, alert_rate=alert_rate, seed=seed)
    typer.echo(
        f"wrote {out}: {card['detector']} on {card['training']['rows']:,} transactions, "
        f"threshold {card['threshold']:.4g} (alerts on {card['alert_rate']:.2%})"
    )


def compare(
    data: Annotated[Path, typer.Option(help="Transaction file (JSONL, CSV or Parquet).")],
    out: Annotated[Path, typer.Option(help="Report directory.")] = Path("models/report"),
) -> None:
    """Compare detectors on a time-ordered split and write the report."""
    raise NotImplementedYet("rtad compare is not implemented yet")
