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
from typing import Any

import redis
import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from rtad import __version__
from rtad.scorer.api import routes_alerts, routes_ops, routes_scoring
from rtad.scorer.api.body_limit import BodyLimit
from rtad.scorer.api.deps import AppState
from rtad.scorer.api.stats import StatsCollector
from rtad.scorer.model_holder import ModelHolder
from rtad.scorer.settings import ScorerSettings
from rtad.scorer.worker.runner import WorkerRunner

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent.parent / "static"
ERRORS_SHOWN = 10


def create_app(settings: ScorerSettings, holder: ModelHolder) -> FastAPI:
    """The app for ``settings`` serving ``holder``'s model; the worker starts with the app."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = aioredis.Redis.from_url(
            settings.redis_url.get_secret_value(), socket_connect_timeout=5
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
        summary="Scores card transactions, serves alerts with their reasons.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for unavailable in (redis.ConnectionError, redis.TimeoutError, redis.AuthenticationError):
        app.add_exception_handler(unavailable, _redis_error)
    app.include_router(routes_scoring.router)
    app.include_router(routes_alerts.router)
    app.include_router(routes_ops.router)
    if STATIC_DIR.is_dir() and (STATIC_DIR / "index.html").exists():
        app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="live-page")
    return app


async def _redis_error(request: Request, exc: Exception) -> JSONResponse:
    """503 when a route needs Redis and Redis is away (the password is never in the text)."""
    log.warning("%s %s: Redis unavailable: %s", request.method, request.url.path, exc)
    reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return JSONResponse({"detail": f"Redis unavailable: {reason}"}, status_code=503)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 with one line first; never echoes the input (it may hold NaN, not JSON-safe)."""
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, Any]] = []
    for error in exc.errors()[:ERRORS_SHOWN]:
        where = ".".join(str(part) for part in error.get("loc", ()))
        errors.append({"loc": where, "msg": str(error.get("msg", "")), "type": error.get("type")})
    first = errors[0] if errors else {"loc": "body", "msg": "invalid request"}
    more = len(exc.errors()) - 1
    detail = f"{first['loc']}: {first['msg']}" + (f" (and {more} more errors)" if more > 0 else "")
    return JSONResponse({"detail": detail, "errors": errors}, status_code=422)
