"""The scorer's FastAPI app: routes, error bodies, and the lifespan that runs the worker.

    app = create_app(ScorerSettings(), ModelHolder(path))   # what ``rtad serve`` runs

The lifespan opens the async Redis client of the API and starts the stream worker thread; on
shutdown (SIGTERM → uvicorn) it stops the worker, which finishes and acknowledges its current
batch first. The live page (``rtad/scorer/static/``) is served at ``/`` when present.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from rtad import __version__
from rtad.scorer.api import (
    routes_alerts,
    routes_feedback,
    routes_labels,
    routes_ops,
    routes_scoring,
)
from rtad.scorer.api.body_limit import BodyLimit
from rtad.scorer.api.deps import AppState
from rtad.scorer.api.live_page import mount_live_page
from rtad.scorer.api.openapi import install_openapi
from rtad.scorer.api.problems import install_handlers
from rtad.scorer.api.stats import StatsCollector
from rtad.scorer.model_holder import ModelHolder
from rtad.scorer.settings import ScorerSettings
from rtad.scorer.worker.runner import WorkerRunner

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent.parent / "static"
#: Read timeout of the API's Redis client: above the blocking XREAD of the alert stream
#: (``alert_reader.SSE_BLOCK_MS``), whose reply may otherwise lose the race with it.
API_SOCKET_TIMEOUT_S = 15.0


def create_app(settings: ScorerSettings, holder: ModelHolder) -> FastAPI:
    """The app for ``settings`` serving ``holder``'s model; the worker starts with the app."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = aioredis.Redis.from_url(
            settings.redis_url.get_secret_value(),
            socket_connect_timeout=5,
            socket_timeout=API_SOCKET_TIMEOUT_S,
        )
        runner = WorkerRunner(settings, holder) if settings.worker_enabled else None
        app.state.rtad = AppState(
            settings=settings,
            holder=holder,
            redis=client,
            stats=StatsCollector(client, settings.streams),
            runner=runner,
        )
        if runner is not None:
            runner.start()
        try:
            yield
        finally:
            if runner is not None:
                log.info("stopping the worker (finishing its current batch)")
                await run_in_threadpool(runner.stop)
            await client.aclose()

    app = FastAPI(
        title="rtad scorer",
        version=__version__,
        summary="Scores card transactions, serves alerts with their reasons, takes verdicts.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    install_handlers(app)
    app.include_router(routes_scoring.router)
    app.include_router(routes_labels.router)
    app.include_router(routes_alerts.router)
    app.include_router(routes_ops.router)
    app.include_router(routes_feedback.router)
    install_openapi(app, holder)
    if (STATIC_DIR / "index.html").exists():
        mount_live_page(app, STATIC_DIR)
    return app
