"""Entrypoint of the scorer container: ``rtad serve``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from rtad.common.errors import RtadError

log = logging.getLogger("rtad.scorer")

GRACEFUL_SHUTDOWN_S = 15


def serve(
    model: Annotated[
        Path | None, typer.Option(help="Model artifact (default: models/champion/).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port (default 8000).")] = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default 0.0.0.0).")] = None,
) -> None:
    """Serve the scoring API and run the stream worker (SIGTERM: finish the batch, stop)."""
    import uvicorn

    from rtad.scorer.api.app import create_app
    from rtad.scorer.model_holder import ModelHolder
    from rtad.scorer.settings import ScorerSettings
    from rtad.scorer.worker.runner import check_redis

    overrides: dict[str, Any] = {"model_path": model, "port": port, "host": host}
    settings = ScorerSettings(**{k: v for k, v in overrides.items() if v is not None})
    if not settings.model_path.exists():
        raise RtadError(
            f"no model at {settings.model_path} (train one with `rtad train`, or pass --model)"
        )
    holder = ModelHolder(settings.model_path, challenger_path=settings.challenger_path)
    refused = check_redis(settings.redis_url.get_secret_value(), settings.redis_attempts)
    if refused:
        log.error(
            "%s; serving anyway: the worker retries with backoff, /readyz answers 503", refused
        )
    log.info(
        "serving model %s on %s:%d (Redis %s)",
        holder.current.version,
        settings.host,
        settings.port,
        settings.redis_url_masked,
    )
    uvicorn.run(
        create_app(settings, holder),
        host=settings.host,
        port=settings.port,
        log_level="info",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
