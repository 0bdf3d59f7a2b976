"""``rtad export``: every shard of one stream kind to JSONL, one decoded object per entry.

Each line is ``{"entry_id": "<stream id>", "shard": <n>, ...}`` followed by the entry's JSON
object (for ``tx``/``features``/``scores``/``alerts``), or the dead-letter fields as text
(``reason``, ``stage``, ``payload``, ``source``). An entry that is not a version-1 rtad entry is
still exported, with ``error`` saying why and its raw ``fields``: an export never hides data.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson
import redis

from rtad.common.encoding import UndecodableEntry, decode, decode_deadletter
from rtad.common.errors import RtadError
from rtad.common.streams import KINDS, Kind, StreamNames

PAGE = 5000


def check_kind(what: str) -> Kind:
    if what not in KINDS:
        raise RtadError(f"cannot export {what!r}: choose one of {', '.join(KINDS)}")
    return what  # type: ignore[return-value]


def entries(client: redis.Redis, key: str) -> Iterator[tuple[bytes, dict[bytes, bytes]]]:
    """Every entry of ``key`` in ID order, a page at a time (constant memory)."""
    start = "-"
    while True:
        page: Any = client.xrange(key, min=start, max="+", count=PAGE)
        if not page:
            return
        yield from page
        start = "(" + page[-1][0].decode()


def export_line(kind: Kind, shard: int, entry_id: bytes, fields: dict[bytes, bytes]) -> bytes:
    """One JSONL line for one stream entry (see the module docstring for its shape)."""
    head: dict[str, Any] = {"entry_id": entry_id.decode(), "shard": shard}
    if kind == "deadletter":
        return orjson.dumps({**head, **decode_deadletter(fields), **head})
    try:
        obj = decode(fields)
    except UndecodableEntry as exc:
        return orjson.dumps({**head, "error": str(exc), "fields": decode_deadletter(fields)})
    body = obj if isinstance(obj, dict) else {"data": obj}
    return orjson.dumps({**head, **body, **head})  # id and shard first, and never overwritten


def export_stream(client: redis.Redis, names: StreamNames, kind: Kind, out: IO[bytes]) -> int:
    """Write every shard's entries of ``kind`` to ``out``; returns how many."""
    written = 0
    for shard in range(names.shards):
        for entry_id, fields in entries(client, names.key(kind, shard)):
            out.write(export_line(kind, shard, entry_id, fields) + b"\n")
            written += 1
    return written


def export_to_file(client: redis.Redis, names: StreamNames, kind: Kind, path: Path) -> int:
    """:func:`export_stream` into ``path``; a broker or disk failure is one clear line."""
    if not path.parent.exists():
        raise RtadError(f"cannot write {path}: directory {path.parent} does not exist")
    try:
        with path.open("wb") as out:
            return export_stream(client, names, kind, out)
    except redis.RedisError as exc:
        raise RtadError(f"Redis failed during the export of {kind}: {exc}") from None
    except OSError as exc:
        raise RtadError(f"cannot write {path}: {exc.strerror or exc}") from None
