"""Entrypoint of the streaming container: ``rtad stream``."""

from __future__ import annotations

from typing import Annotated

import typer

from rtad.common.errors import NotImplementedYet


def stream(
    master: Annotated[str, typer.Option(help="Spark master URL.")] = "local[*]",
) -> None:
    """Run the Spark Structured Streaming feature job."""
    raise NotImplementedYet("rtad stream is not implemented yet")
