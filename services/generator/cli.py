"""Entrypoints of the generator container: ``rtad generate``, ``rtad replay``, ``rtad export``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rtad.common.errors import NotImplementedYet


def generate(
    out: Annotated[Path | None, typer.Option(help="JSONL/Parquet file, not Redis.")] = None,
    rate: Annotated[float | None, typer.Option(help="Transactions per second.")] = None,
    count: Annotated[int | None, typer.Option(help="Stop after this many transactions.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data.")] = 0,
    fraud_rate: Annotated[float, typer.Option(help="Share of fraudulent transactions.")] = 0.01,
) -> None:
    """Simulated card transactions (with labelled fraud scenarios) to the streams or a file."""
    raise NotImplementedYet("rtad generate is not implemented yet")


def replay(
    file: Annotated[Path, typer.Argument(help="JSONL, CSV or Parquet file of transactions.")],
    rate: Annotated[float | None, typer.Option(help="Records per second.")] = None,
) -> None:
    """Validate a file of transaction records and write it to the input streams."""
    raise NotImplementedYet("rtad replay is not implemented yet")


def export(
    what: Annotated[str, typer.Argument(help="scores, alerts, deadletter or features")],
    out: Annotated[Path, typer.Option(help="JSONL file to write.")],
) -> None:
    """Dump a stream (all shards) to JSONL, one decoded object per entry."""
    raise NotImplementedYet("rtad export is not implemented yet")
