"""``GET /v1/alerts`` (pages, newest first) and ``GET /v1/alerts/stream`` (Server-Sent Events)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, HTTPException, Query, status
from sse_starlette.sse import EventSourceResponse, ServerSentEvent

from rtad.scorer.api.alert_reader import BadCursor, live_alerts, parse_cursor, recent_alerts
from rtad.scorer.api.deps import RedisDep, SettingsDep
from rtad.scorer.api.schemas import AlertsPage, Problem

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])

UserId = Annotated[str | None, Query(min_length=1, max_length=128, description="One card only.")]
SSE_PING_S = 15


@router.get("", response_model=AlertsPage, responses={400: {"model": Problem}})
async def alerts(
    client: RedisDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=80)] = None,
    user_id: UserId = None,
) -> AlertsPage:
    """Recent alerts, newest first; ``next_cursor`` fetches the next (older) page."""
    try:
        page, next_cursor = await recent_alerts(
            client, settings.streams, limit, cursor=cursor, user_id=user_id
        )
    except BadCursor as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    return AlertsPage(alerts=page, next_cursor=next_cursor)


@router.get("/stream", responses={400: {"model": Problem}})
async def alerts_stream(
    client: RedisDep,
    settings: SettingsDep,
    user_id: UserId = None,
    last_event_id: Annotated[str | None, Header(max_length=80)] = None,
) -> EventSourceResponse:
    """Alerts as they happen (``text/event-stream``, event ``alert``, data = the alert JSON).

    The event id is the alert's cursor; a reconnecting browser sends it back as
    ``Last-Event-ID`` and resumes from there.
    """
    if last_event_id:
        try:
            parse_cursor(last_event_id, settings.streams.shards)
        except BadCursor as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None

    async def events() -> AsyncIterator[ServerSentEvent]:
        async for alert in live_alerts(client, settings.streams, user_id, last_event_id):
            yield ServerSentEvent(
                data=orjson.dumps(alert).decode(), event="alert", id=alert["cursor"]
            )

    return EventSourceResponse(events(), ping=SSE_PING_S)
