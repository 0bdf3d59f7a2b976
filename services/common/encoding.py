"""Entry encoding of every rtad stream, versioned.

Version 1: an entry has two fields, ``v`` (the encoding version, ``b"1"``) and ``d``
(one compact JSON object). JSON rather than flat fields because feature rows and reasons are
nested and typed; one field because it halves the bytes Redis parses per entry.
Dead-letter entries are flat and human readable: ``reason``, ``stage``, ``payload``
(the original text, untouched), ``source`` (stream and entry id, if any).

>>> fields = encode({"a": 1})
>>> decode(fields)
{'a': 1}
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any

import numpy as np
import orjson

ENCODING_VERSION = b"1"
VERSION_FIELD = b"v"
DATA_FIELD = b"d"
#: Encoding 2, of feature entries only (:mod:`rtad.common.feature_entry`): ``v``, ``d`` (a
#: JSON head) and ``x`` (the features as packed doubles).
FEATURE_ENCODING = b"2"
X_FIELD = b"x"


class UndecodableEntry(ValueError):
    """A stream entry that is not a version-1 rtad entry; ``str()`` is the reason."""


def encode(obj: Any) -> dict[bytes, bytes]:
    """Fields of one entry holding ``obj`` (anything orjson serialises, numpy included)."""
    return {
        VERSION_FIELD: ENCODING_VERSION,
        DATA_FIELD: orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY),
    }


def encode_raw(payload: bytes) -> dict[bytes, bytes]:
    """Fields of one entry whose JSON payload is already serialised (labels, by msgspec)."""
    return {VERSION_FIELD: ENCODING_VERSION, DATA_FIELD: payload}


def payload_of(fields: Mapping[Any, Any]) -> bytes:
    """The JSON bytes of an entry, after checking its version."""
    version = fields.get(VERSION_FIELD, fields.get("v"))
    data = fields.get(DATA_FIELD, fields.get("d"))
    if isinstance(version, str):
        version = version.encode()
    if version != ENCODING_VERSION:
        raise UndecodableEntry(f"unsupported encoding version {version!r} (expected b'1')")
    if data is None:
        raise UndecodableEntry("entry has no 'd' field")
    return data.encode() if isinstance(data, str) else data


def decode(fields: Mapping[Any, Any]) -> Any:
    """The object stored in an entry; raises :class:`UndecodableEntry`."""
    data = payload_of(fields)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UndecodableEntry(f"payload is not JSON: {exc}") from None


def original_payload(fields: Mapping[Any, Any]) -> bytes:
    """What a dead letter keeps of an entry: its ``d`` bytes untouched, else all its fields.

    An entry that is not even an rtad entry (no ``d``) is kept whole, as a JSON object of its
    fields decoded as UTF-8 (undecodable bytes replaced), so nothing of it is lost to a reader.
    So is a feature entry of encoding 2 (its ``d`` is only the head), its binary ``x`` in
    base64 under ``x_base64``.

    >>> original_payload({b"v": b"1", b"d": b"{oops"})
    b'{oops'
    >>> original_payload({b"other": b"field"})
    b'{"other":"field"}'
    >>> original_payload({b"v": b"2", b"d": b"{}", b"x": b"\\x00"})
    b'{"v":"2","d":"{}","x_base64":"AA=="}'
    """
    data = fields.get(DATA_FIELD, fields.get("d"))
    x = fields.get(X_FIELD, fields.get("x"))
    version = fields.get(VERSION_FIELD, fields.get("v"))
    packed = isinstance(x, bytes) and as_bytes(version) == FEATURE_ENCODING
    if isinstance(data, bytes) and not packed:
        return data
    return orjson.dumps(text_fields(fields, x_base64=packed))


def text_fields(fields: Mapping[Any, Any], x_base64: bool = True) -> dict[str, str]:
    """An entry's fields as text (undecodable bytes replaced); with ``x_base64``, a feature
    entry's binary ``x`` in base64 under ``x_base64`` instead.

    >>> text_fields({b"v": b"2", b"x": b"\\x00"})
    {'v': '2', 'x_base64': 'AA=='}
    """
    whole = {as_text(k, "replace"): as_text(v, "replace") for k, v in fields.items()}
    x = fields.get(X_FIELD, fields.get("x"))
    if x_base64 and isinstance(x, bytes):
        del whole["x"]
        whole["x_base64"] = base64.b64encode(x).decode()
    return whole


def as_text(value: Any, errors: str = "strict") -> str:
    """A Redis reply (bytes, or str from a decoding client) or any value, as text.

    >>> as_text(b"stream"), as_text("stream"), as_text(3), as_text(b"\\xff", errors="replace")
    ('stream', 'stream', '3', '\ufffd')
    """
    return value.decode("utf-8", errors) if isinstance(value, bytes) else str(value)


def as_bytes(value: Any) -> bytes:
    """A command argument (bytes, str or number) as bytes.

    >>> as_bytes(b"k"), as_bytes("k"), as_bytes(12)
    (b'k', b'k', b'12')
    """
    return value if isinstance(value, bytes) else str(value).encode()


def deadletter_fields(
    reason: str, stage: str, payload: bytes | str, source: str = ""
) -> dict[bytes, bytes]:
    """Fields of a dead-letter entry: why, where, and the original payload untouched."""
    raw = payload if isinstance(payload, bytes) else payload.encode("utf-8", "surrogateescape")
    return {
        b"reason": reason.encode()[:1000],
        b"stage": stage.encode(),
        b"payload": raw,
        b"source": source.encode(),
    }


def decode_deadletter(fields: Mapping[bytes, bytes]) -> dict[str, str]:
    """A dead-letter entry as text (for export)."""
    return {k.decode(): v.decode("utf-8", "replace") for k, v in fields.items()}


def v1_payloads(fields: Sequence[Any]) -> list[bytes] | None:
    """The payloads of entries whose fields are all exactly ``[b"v", b"1", b"d", payload]``
    (what the producers write), or None if any entry is anything else (a dict, a deleted
    entry's None, other fields or versions): the caller then looks at them one by one.

    >>> v1_payloads([[b"v", b"1", b"d", b"{}"], [b"v", b"1", b"d", b"[]"]])
    [b'{}', b'[]']
    >>> v1_payloads([[b"v", b"2", b"d", b"{}"]]) is None
    True
    """
    values = fixed_fields(fields, (VERSION_FIELD, ENCODING_VERSION, DATA_FIELD, None))
    return None if values is None else values[0]


def fixed_fields(fields: Sequence[Any], layout: Sequence[bytes | None]) -> list[list[bytes]] | None:
    """For entries whose raw field lists all match ``layout`` (the fixed items as bytes, None
    where a value goes), the values at each None position, one list per position; None if
    any entry is anything else.

    Whole-list operations (lengths, then every ``len(layout)``-th item of the flattened
    fields), no Python loop per entry: the Spark source and the scorer call it on every batch.

    >>> fixed_fields([[b"v", b"2", b"d", b"{}", b"x", b"01"]], (b"v", b"2", b"d", None, b"x", None))
    [[b'{}'], [b'01']]
    >>> fixed_fields([[b"v", b"1", b"d", b"{}"]], (b"v", b"2", b"d", None)) is None
    True
    """
    n, width = len(fields), len(layout)
    if set(map(type, fields)) != {list} or list(map(len, fields)).count(width) != n:
        return None if n else [[] for item in layout if item is None]
    flat = list(chain.from_iterable(fields))
    values = []
    for i, item in enumerate(layout):
        column = flat[i::width]
        if item is None:
            values.append(column)
        elif column.count(item) != n:
            return None
    return values


def one_object_per_payload(joined: bytes, payloads: list[bytes]) -> bool:
    """True when ``decode_lines(joined)`` can only find the payloads' objects, one per payload
    (``joined`` is ``b"\\n".join(payloads)``; the scorer and the Spark source both rely on it).

    ``decode_lines`` reads a stream of JSON values (a newline is mere whitespace), so a payload
    holding two objects next to an empty one would shift rows onto the wrong entry IDs. Here
    every payload starts with ``{`` and ends with ``}``: one cut inside an object would meet
    the next one's ``{`` where JSON wants ``,`` or ``}`` (an error), and a string cannot run on
    across the raw newline between them (another error). So each payload holds at least one
    whole object, and ``n`` objects in ``n`` payloads means exactly one each. Checked with
    numpy on the joined bytes: two bytes a payload, no scan of the text.
    """
    lengths = np.fromiter(map(len, payloads), dtype=np.int64, count=len(payloads))
    if not lengths.all():
        return False
    ends = np.cumsum(lengths + 1) - 1  # where the newline after each payload is (or would be)
    text = np.frombuffer(joined, dtype=np.uint8)
    return bool((text[ends - lengths] == ord("{")).all() and (text[ends - 1] == ord("}")).all())
