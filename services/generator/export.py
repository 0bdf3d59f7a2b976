"""``rtad export``: every shard of one stream kind to JSONL, one decoded object per entry.

Each line is ``{"entry_id": "<stream id>", "shard": <n>, ...}`` followed by the entry's JSON
object (for ``tx``/``scores``/``alerts``), the feature entry's head with ``features`` by name
(for ``features``, :mod:`rtad.common.feature_entry`; JSON has no NaN or infinity: a
non-finite feature is ``null``), or the dead-letter fields as text
(``reason``, ``stage``, ``payload``, ``source``). An entry that cannot be decoded is still
exported, with ``error`` saying why and its raw ``fields`` (``x`` of a feature entry in
base64): an export never hides data.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

import orjson
import redis

from rtad.common.encoding import UndecodableEntry, decode, decode_deadletter, text_fields
from rtad.common.errors import RtadError
from rtad.common.feature_entry import FeatureSets, decode_feature_entry
from rtad.common.redis_streams import read_stream
from rtad.common.streams import KINDS, Kind, StreamNames


def check_kind(what: str) -> Kind:
    if what not in KINDS:
        raise RtadError(f"cannot export {what!r}: choose one of {', '.join(KINDS)}")
    return what  # type: ignore[return-value]


def export_line(
    kind: Kind,
    shard: int,
    entry_id: bytes,
    fields: dict[bytes, bytes],
    sets: FeatureSets | None = None,
) -> bytes:
    """One JSONL line for one stream entry (see the module docstring for its shape);
    ``sets``: the feature sets a ``features`` entry is read with."""
    head: dict[str, Any] = {"entry_id": entry_id.decode(), "shard": shard}
    if kind == "deadletter":
        return orjson.dumps({**head, **decode_deadletter(fields), **head})
    try:
        if kind == "features":
            obj = decode_feature_entry(fields, sets or FeatureSets())
        else:
            obj = decode(fields)
    except UndecodableEntry as exc:
        return orjson.dumps({**head, "error": str(exc), "fields": text_fields(fields)})
    body = obj if isinstance(obj, dict) else {"data": obj}
    return orjson.dumps({**head, **body, **head})  # id and shard first, and never overwritten


def export_stream(client: redis.Redis, names: StreamNames, kind: Kind, out: IO[bytes]) -> int:
    """Write every shard's entries of ``kind`` to ``out``; returns how many."""
    sets = FeatureSets.from_redis(client, names.prefix) if kind == "features" else None
    written = 0
    for shard in range(names.shards):
        for entry_id, fields in read_stream(client, names.key(kind, shard)):
            out.write(export_line(kind, shard, entry_id, fields, sets) + b"\n")
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
