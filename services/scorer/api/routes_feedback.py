"""``GET /v1/quality`` (alert quality from verdicts), ``POST /v1/model/promote``."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import redis
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from rtad.scorer.api.deps import AdminDep, HolderDep, SettingsDep
from rtad.scorer.api.schemas import Problem
from rtad.scorer.model_holder import ChallengerRefused
from rtad.scorer.promotion import publish_roles
from rtad.scorer.quality_store import collect

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["feedback"])


class VerdictFigures(BaseModel):
    """What became of the verdicts kept (``held``: their transaction is not scored yet)."""

    total: int
    fraud: int
    genuine: int
    held: int
    expired: int
    not_alerted: int


class ModelFigures(BaseModel):
    """One model's figures; ``null`` where nothing was judged yet."""

    version: str
    precision: float | None
    reviewed_alerts: int
    fraud_alerts: int
    recall: float | None
    reported_frauds: int
    caught_frauds: int
    card_precision: dict[str, float]
    card_precision_mean: float | None
    by_scenario: dict[str, dict[str, Any]]
    delay_cards: int
    delay_median_s: float | None
    delay_mean_s: float | None


class BudgetInUse(BaseModel):
    """The alert threshold's setting: the model's fixed one, or the budget's (alerts/h)."""

    mode: str
    per_hour: float


class QualityFigures(BaseModel):
    """Alert quality from verdicts, per model role (``champion``, ``challenger``)."""

    k: int
    verdicts: VerdictFigures
    models: dict[str, ModelFigures]
    alert_budget: BudgetInUse


class Promotion(BaseModel):
    """The model pair after a promotion."""

    champion: str
    challenger: str


@dataclass
class _LastFigures:
    """The figures of the last computation, shared by the requests that follow it within
    ``RTAD_QUALITY_INTERVAL_S`` (as fresh as the gauges): the figures read every verdict
    kept, and a public GET must not make Redis do that once per request."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    at: float = -math.inf
    roles: dict[str, str] = field(default_factory=dict)
    figures: QualityFigures | None = None


@router.get("/quality", response_model=QualityFigures, responses={503: {"model": Problem}})
async def quality(request: Request, settings: SettingsDep, holder: HolderDep) -> QualityFigures:
    """Alert precision, Card Precision@k per day, recall on reported frauds (per scenario when
    known) and detection delay of the champion and the challenger, from the verdicts so far
    (computed at most once every ``RTAD_QUALITY_INTERVAL_S``, and after a promotion)."""
    last: _LastFigures = getattr(request.app.state, "rtad_quality", None) or _LastFigures()
    request.app.state.rtad_quality = last
    async with last.lock:
        roles = holder.roles()
        fresh = time.monotonic() - last.at < settings.quality_interval_s
        if last.figures is not None and fresh and roles == last.roles:
            return last.figures
        client = _sync_client(request, settings.redis_url.get_secret_value())
        report = await run_in_threadpool(
            collect,
            client,
            settings.streams,
            roles,
            k=settings.quality_k,
            days=settings.quality_days,
            hold_s=settings.label_hold_s,
        )
        budget = {"mode": settings.alert_mode, "per_hour": settings.alert_budget_per_hour}
        figures = QualityFigures.model_validate(report.as_dict() | {"alert_budget": budget})
        last.at, last.roles, last.figures = time.monotonic(), roles, figures
        return figures


@router.post(
    "/model/promote",
    response_model=Promotion,
    responses={401: {"model": Problem}, 403: {"model": Problem}, 409: {"model": Problem}},
)
async def promote(
    _admin: AdminDep, request: Request, settings: SettingsDep, holder: HolderDep
) -> Promotion:
    """Swap champion and challenger between two batches, without a restart.

    The batch being scored finishes with the pair it started with; the next batch scores with
    the swapped pair, so no transaction is scored twice or skipped. Other replicas follow
    within a few seconds. 409 when no challenger is loaded. Needs ``X-API-Key``.
    """
    try:
        champion, challenger = holder.promote()
    except ChallengerRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    client = _sync_client(request, settings.redis_url.get_secret_value())
    await run_in_threadpool(publish_roles, client, settings.streams, holder)
    log.info("promoted %s to champion (challenger now %s)", champion.version, challenger.version)
    return Promotion(champion=champion.version, challenger=challenger.version)


def _sync_client(request: Request, url: str) -> redis.Redis:
    """One synchronous client per app for the figures' pipelines (run in the thread pool)."""
    client: redis.Redis | None = getattr(request.app.state, "rtad_sync_redis", None)
    if client is None:
        client = redis.Redis.from_url(url, socket_connect_timeout=5)
        request.app.state.rtad_sync_redis = client
    return client
