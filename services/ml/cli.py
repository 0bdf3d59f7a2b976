"""``rtad train`` and ``rtad compare``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rtad.common.errors import NotImplementedYet


def train(
    data: Annotated[Path, typer.Option(help="Transaction file (JSONL, CSV or Parquet).")],
    out: Annotated[Path, typer.Option(help="Where to write the model artifact.")],
) -> None:
    """Fit a detector on a transaction file and write the artifact and its model card."""
    raise NotImplementedYet("rtad train is not implemented yet")


def compare(
    data: Annotated[Path, typer.Option(help="Transaction file (JSONL, CSV or Parquet).")],
    out: Annotated[Path, typer.Option(help="Report directory.")] = Path("models/report"),
) -> None:
    """Compare detectors on a time-ordered split and write the report."""
    raise NotImplementedYet("rtad compare is not implemented yet")
