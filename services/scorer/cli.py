"""Entrypoint of the scorer container: ``rtad serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rtad.common.errors import NotImplementedYet


def serve(
    model: Annotated[Path | None, typer.Option(help="Model artifact (default: champion).")] = None,
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
) -> None:
    """Serve the scoring API and run the stream worker."""
    raise NotImplementedYet("rtad serve is not implemented yet")
