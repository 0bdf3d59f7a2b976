"""What the routes depend on, as ``Annotated`` aliases (FastAPI dependency injection)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from rtad.scorer.api.stats import StatsCollector
from rtad.scorer.model_holder import ModelHolder
from rtad.scorer.settings import ScorerSettings
from rtad.scorer.worker.runner import WorkerRunner


@dataclass
class AppState:
    """Everything the lifespan builds; kept on ``app.state.rtad``."""

    settings: ScorerSettings
    holder: ModelHolder
    redis: aioredis.Redis
    stats: StatsCollector
    runner: WorkerRunner | None = None


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.rtad
    return state


def get_settings(state: Annotated[AppState, Depends(get_state)]) -> ScorerSettings:
    return state.settings


def get_holder(state: Annotated[AppState, Depends(get_state)]) -> ModelHolder:
    return state.holder


def get_redis(state: Annotated[AppState, Depends(get_state)]) -> aioredis.Redis:
    return state.redis


def get_stats(state: Annotated[AppState, Depends(get_state)]) -> StatsCollector:
    return state.stats


#: The API key of write and admin routes, declared as an OpenAPI security scheme.
api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="ApiKey",
    description="The key of write and admin routes (`RTAD_API_KEY`).",
)


def require_admin(
    settings: Annotated[ScorerSettings, Depends(get_settings)],
    x_api_key: Annotated[str | None, Security(api_key_header)] = None,
) -> None:
    """403 when no key is configured (admin API disabled); 401 on a missing or wrong key.

    A route needing the key takes ``_admin: AdminDep``; the OpenAPI document then lists the
    ``ApiKey`` scheme and the 401/403 answers for it (:mod:`rtad.scorer.api.openapi`).
    """
    if settings.api_key is None or not settings.api_key.get_secret_value():
        raise HTTPException(status.HTTP_403_FORBIDDEN, "admin API disabled (set RTAD_API_KEY)")
    expected = settings.api_key.get_secret_value().encode()
    given = (x_api_key or "").encode()
    if not secrets.compare_digest(given, expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong API key (header X-API-Key)",
            headers={"WWW-Authenticate": "ApiKey"},
        )


StateDep = Annotated[AppState, Depends(get_state)]
SettingsDep = Annotated[ScorerSettings, Depends(get_settings)]
HolderDep = Annotated[ModelHolder, Depends(get_holder)]
RedisDep = Annotated[aioredis.Redis, Depends(get_redis)]
StatsDep = Annotated[StatsCollector, Depends(get_stats)]
AdminDep = Annotated[None, Depends(require_admin)]
