"""Entrypoint of the streaming container: ``rtad stream``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def stream(
    master: Annotated[str, typer.Option(help="Spark master URL.")] = "local[*]",
    available_now: Annotated[
        bool, typer.Option("--available-now", help="Process what is in the streams, then stop.")
    ] = False,
    checkpoint_dir: Annotated[
        Path | None,
        typer.Option(help="Checkpoint directory (env RTAD_CHECKPOINT_DIR); created if missing."),
    ] = None,
    trigger_interval: Annotated[
        str | None, typer.Option(help="Micro-batch interval, e.g. '1 second'.")
    ] = None,
    max_records_per_batch: Annotated[
        int | None, typer.Option(help="Rows admitted per micro-batch, all shards together.")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Port of the rtad_stream_* Prometheus exporter (0 = off).")
    ] = None,
    ui_port: Annotated[
        int | None, typer.Option(help="Spark UI port, serving /metrics/prometheus (0 = no UI).")
    ] = None,
) -> None:
    """Run the Spark Structured Streaming feature job (Redis tx → per-card features → Redis)."""
    from rtad.streaming.job import run
    from rtad.streaming.settings import StreamSettings

    overrides: dict[str, Any] = {
        "master": master,
        "available_now": available_now or None,
        "checkpoint_dir": checkpoint_dir,
        "trigger_interval": trigger_interval,
        "max_records_per_batch": max_records_per_batch,
        "metrics_port": metrics_port,
        "ui_port": ui_port,
    }
    run(StreamSettings(**{k: v for k, v in overrides.items() if v is not None}))
