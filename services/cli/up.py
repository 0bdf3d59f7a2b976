"""``rtad up``: the whole pipeline on this machine (issue 7)."""

from __future__ import annotations

from typing import Annotated

import typer

from rtad.common.errors import NotImplementedYet


def up(
    rate: Annotated[float, typer.Option(help="Generator rate, transactions per second.")] = 2000.0,
    port: Annotated[int, typer.Option(help="Scorer HTTP port (live page at /).")] = 8000,
) -> None:
    """Run everything at once on this machine: Redis, generator, Spark, scorer, Prometheus."""
    raise NotImplementedYet("rtad up is not implemented yet")
