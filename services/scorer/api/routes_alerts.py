"""``GET /v1/alerts`` (pages, newest first) and ``GET /v1/alerts/stream`` (Server-Sent Events)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
import redis
from fastapi import APIRouter, Header, HTTPException, Query, status
from sse_starlette.sse import EventSourceResponse, ServerSentEvent

from rtad.scorer.api.alert_reader import (
    CURSOR,
    BadCursor,
    live_alerts,
    recent_alerts,
)
from rtad.scorer.api.deps import RedisDep, SettingsDep
from rtad.scorer.api.problems import problem_responses
from rtad.scorer.api.schemas import AlertsPage

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/alerts", tags=["alerts"])

UserId = Annotated[str | None, Query(min_length=1, max_length=128, description="One card only.")]
SSE_PING_S = 15


@router.get("", response_model=AlertsPage, responses=problem_responses(503))
async def alerts(
    client: RedisDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(pattern=CURSOR.pattern, description="A `next_cursor`, as given.")
    ] = None,
    user_id: UserId = None,
) -> AlertsPage:
    """Recent alerts, newest first; ``next_cursor`` fetches the next (older) page."""
    try:
        page, next_cursor = await recent_alerts(
            client, settings.streams, limit, cursor=cursor, user_id=user_id
        )
    except BadCursor as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return AlertsPage(alerts=page, next_cursor=next_cursor)


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "Server-Sent Events, one `alert` event an alert, forever.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **problem_responses(503),
    },
)
async def alerts_stream(
    client: RedisDep,
    settings: SettingsDep,
    user_id: UserId = None,
    last_event_id: Annotated[str | None, Header(pattern=CURSOR.pattern)] = None,
) -> EventSourceResponse:
    """Alerts as they happen (``text/event-stream``, event ``alert``, data = the alert JSON).

    The event id is the alert's cursor; a reconnecting browser sends it back as
    ``Last-Event-ID`` and resumes from there (a malformed one: 422).
    """

    async def events() -> AsyncIterator[ServerSentEvent]:
        try:
            async for alert in live_alerts(client, settings.streams, user_id, last_event_id):
                yield ServerSentEvent(
                    data=orjson.dumps(alert).decode(), event="alert", id=alert["cursor"]
                )
        except redis.RedisError as exc:  # the answer has started: end it, the browser retries
            log.warning("alert stream ended: Redis unavailable: %s", str(exc)[:200])

    return EventSourceResponse(events(), ping=SSE_PING_S)
