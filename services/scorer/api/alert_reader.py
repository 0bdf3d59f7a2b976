"""Reading ``rtad:alerts:{s}``: recent pages across shards, and a live feed for SSE.

Alerts are ordered newest first by ``(entry id, shard)``; the cursor ``<id>_<shard>`` names the
last alert of a page, so the next page is exactly what comes after it (no skip, no repeat,
even when two shards hold the same entry ID). A ``user_id`` filter reads only that card's shard
and scans at most :data:`SCAN_BUDGET` entries per call, returning a cursor to go on.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import orjson
import redis.asyncio as aioredis

from rtad.common.encoding import UndecodableEntry, as_text, payload_of
from rtad.common.redis_streams import parse_id
from rtad.common.streams import StreamNames, shard_of

#: ``<entry id>_<shard>``: a position in the (entry id, shard) order of every alert. Any string
#: matching it is a valid position (19 digits stay within a stream ID's unsigned 64 bits; a
#: shard this deployment lacks still has its place in the order), so the pattern in the API's
#: document is the whole rule.
CURSOR = re.compile(r"^(\d{1,19})-(\d{1,19})_(\d{1,4})$")
SCAN_CHUNK = 500
SCAN_BUDGET = 5000
SSE_BLOCK_MS = 5000


class BadCursor(ValueError):
    """A cursor this API did not hand out."""


def parse_cursor(cursor: str) -> tuple[str, int]:
    match = CURSOR.match(cursor)
    if match is None:
        raise BadCursor(f"invalid cursor {cursor[:60]!r}: pass back a next_cursor as given")
    return f"{int(match[1])}-{int(match[2])}", int(match[3])


def alert_of(entry_id: bytes | str, shard: int, fields: Any) -> dict[str, Any] | None:
    """The alert object with its position (``id``, ``shard``); None if the entry is foreign."""
    try:
        alert = orjson.loads(payload_of(fields))
    except (UndecodableEntry, orjson.JSONDecodeError):
        return None
    if not isinstance(alert, dict):
        return None
    eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return alert | {"id": eid, "shard": shard, "cursor": f"{eid}_{shard}"}


def _upper_bound(shard: int, after: tuple[str, int] | None) -> str | None:
    """XREVRANGE max for ``shard``: strictly before the cursor in (id, shard) order.

    None when nothing can come before it (the cursor is at ``0-0``).
    """
    if after is None:
        return "+"
    entry_id, cursor_shard = after
    if shard < cursor_shard:
        return entry_id
    return None if entry_id == "0-0" else f"({entry_id}"


async def recent_alerts(
    client: aioredis.Redis,
    names: StreamNames,
    limit: int,
    cursor: str | None = None,
    user_id: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of alerts, newest first, and the cursor of the next page (None at the end)."""
    after = parse_cursor(cursor) if cursor else None
    if user_id is not None:
        return await _user_alerts(client, names, limit, after, user_id)
    found: list[dict[str, Any]] = []
    for shard in range(names.shards):
        upper = _upper_bound(shard, after)
        if upper is None:
            continue
        entries: Any = await client.xrevrange(
            names.key("alerts", shard), max=upper, min="-", count=limit
        )
        found += [a for eid, f in entries if (a := alert_of(eid, shard, f)) is not None]
    found.sort(key=lambda a: (parse_id(a["id"]), a["shard"]), reverse=True)
    page = found[:limit]
    return page, (page[-1]["cursor"] if len(page) == limit else None)


async def _user_alerts(
    client: aioredis.Redis,
    names: StreamNames,
    limit: int,
    after: tuple[str, int] | None,
    user_id: str,
) -> tuple[list[dict[str, Any]], str | None]:
    shard = shard_of(user_id, names.shards)
    key = names.key("alerts", shard)
    upper = _upper_bound(shard, after)
    page: list[dict[str, Any]] = []
    scanned = 0
    while upper is not None and upper != "(0-0" and len(page) < limit and scanned < SCAN_BUDGET:
        entries: Any = await client.xrevrange(key, max=upper, min="-", count=SCAN_CHUNK)
        for eid, fields in entries:
            scanned += 1
            alert = alert_of(eid, shard, fields)
            upper = f"({as_text(eid)}"
            if alert is not None and alert.get("user_id") == user_id:
                page.append(alert)
                if len(page) == limit:
                    return page, alert["cursor"]
        if len(entries) < SCAN_CHUNK:
            return page, None
    if upper is None or not upper.startswith("(") or upper == "(0-0":
        return page, None
    return page, f"{upper[1:]}_{shard}"  # scan budget spent: go on from here next call


async def live_alerts(
    client: aioredis.Redis,
    names: StreamNames,
    user_id: str | None = None,
    last_event_id: str | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Alerts as they are written (XREAD BLOCK over every shard), forever.

    Resuming with ``Last-Event-ID`` restarts every shard after that alert's entry ID: entry IDs
    are milliseconds, so this is "everything since then" across shards.
    """
    keys = [names.key("alerts", s) for s in range(names.shards)]
    if user_id is not None:
        keys = [names.for_user("alerts", user_id)]
    start = parse_cursor(last_event_id)[0] if last_event_id else None
    positions: dict[Any, Any] = {key: start or await _last_id(client, key) for key in keys}
    while True:
        reply: Any = await client.xread(positions, block=SSE_BLOCK_MS, count=500)
        pairs = reply.items() if isinstance(reply, dict) else (reply or [])
        for key, entries in pairs:
            key_text = as_text(key)
            shard = names.shard_from_key(key_text)
            for entry in entries or []:
                eid, fields = entry[0], entry[1]
                positions[key_text] = as_text(eid)
                alert = alert_of(eid, shard, fields)
                if alert is not None and (user_id is None or alert.get("user_id") == user_id):
                    yield alert


async def _last_id(client: aioredis.Redis, key: str) -> str:
    entries: Any = await client.xrevrange(key, count=1)
    return as_text(entries[0][0]) if entries else "0-0"
