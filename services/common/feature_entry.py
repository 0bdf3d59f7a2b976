"""Feature entries, encoding version 2: a JSON head and the features as packed doubles.

The one owner of the format: the reference encoder (:func:`encode_feature_entry`), the Spark
job's batch encoder (:func:`record_heads`, :func:`packed_features`, :func:`finish_heads`,
:func:`pack_feature_xadds`: Arrow kernels, no Python work a row) and the decoders the scorer
and ``rtad export`` use (:func:`entry_parts`, :func:`feature_matrix`, :func:`column_index`,
:func:`check_encoding`, :func:`decode_feature_entry`). A feature entry has three fields::

    v  b"2"
    d  compact JSON: the transaction record as validated — transaction_id, event_time (its
       ``timestamp``, zone as written), user_id, merchant_id, amount, currency, latitude,
       longitude, and merchant_category / channel / country / is_fraud / fraud_scenario when
       present — then ingest_ms (the tx entry's ID time), feature_ms, feature_set
    x  the features, float64 little-endian, in the order of the entry's feature set

``feature_set`` is the id of an ordered list of feature names (:func:`feature_set_id`), kept
in Redis in the hash :meth:`~rtad.common.streams.StreamNames.feature_sets_key` (id → JSON
list of names) by whoever writes entries of that set (:func:`register_feature_set`) — the
Spark job at start — and read by the scorer when it meets an id it has not seen. Like a
schema registry: the names travel once, not in every entry, and a reader built for another
list of features still reads them by name.

The features are packed doubles rather than JSON: a double printed and parsed back is the same
double, so the bytes lose nothing and spare both ends a text conversion. A non-finite feature
stays what it is (NaN, ±inf); the scorer refuses such a row with a reason.

pyarrow is imported by the batch encoder only: the generator's image does without it.

>>> names = ("amount_log", "gap_log_s")
>>> fields = encode_feature_entry({"transaction_id": "t1"}, [1.5, 2.0], names)
>>> fields[b"v"], len(fields[b"x"])
(b'2', 16)
>>> decode_feature_entry(fields, {feature_set_id(names): names})["features"]
{'amount_log': 1.5, 'gap_log_s': 2.0}
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np
import orjson

from rtad.common.encoding import (
    DATA_FIELD,
    FEATURE_ENCODING,
    VERSION_FIELD,
    X_FIELD,
    UndecodableEntry,
    fixed_fields,
)
from rtad.common.resp import pack_command, xadd_prefix
from rtad.common.streams import StreamNames

if TYPE_CHECKING:
    import pyarrow as pa

    from rtad.common.schema import Transaction

#: The head's key naming the entry's feature set.
FEATURE_SET_KEY = "feature_set"
#: The features' wire type: float64, little-endian.
X_DTYPE = np.dtype("<f8")
#: The raw fields of an entry as the Spark job writes it (None: the head, the features).
ENTRY_LAYOUT = (VERSION_FIELD, FEATURE_ENCODING, DATA_FIELD, None, X_FIELD, None)
#: ``v`` of an entry of encoding 2, from a client that decodes replies or not.
_VERSIONS = (FEATURE_ENCODING, FEATURE_ENCODING.decode())
_RECORD_ENCODER = msgspec.json.Encoder()
_COLUMNS: dict[tuple[str, tuple[str, ...]], tuple[np.ndarray, tuple[str, ...]]] = {}


def feature_set_id(names: Sequence[str]) -> str:
    """A stable short id of an ordered list of feature names (12 hex digits of SHA-256).

    >>> feature_set_id(["a", "b"]) != feature_set_id(["b", "a"])
    True
    """
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:12]


def register_feature_set(client: Any, prefix: str, names: Sequence[str]) -> str:
    """Record ``names`` under their id (idempotent) and return the id."""
    set_id = feature_set_id(names)
    client.hset(StreamNames(prefix).feature_sets_key(), set_id, orjson.dumps(list(names)))
    return set_id


class FeatureSets:
    """The feature sets a reader knows, asking Redis (``load``) for an id it has not seen.

    ``load(id)`` returns the stored JSON list of names or None. A set is kept once found
    (an id names one list for ever); an id Redis does not know is asked again next time.
    """

    def __init__(
        self,
        load: Callable[[str], Any] | None = None,
        known: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self._load = load
        self._sets: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in (known or {}).items()}

    def get(self, set_id: str) -> tuple[str, ...] | None:
        names = self._sets.get(set_id)
        if names is None and self._load is not None:
            raw = self._load(set_id)
            if raw is not None:
                names = self._parse(set_id, raw)
                if names is not None:
                    self._sets[set_id] = names
        return names

    @staticmethod
    def _parse(set_id: str, raw: Any) -> tuple[str, ...] | None:
        try:
            names = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return None
        return tuple(names) if feature_set_id(names) == set_id else None

    @classmethod
    def from_redis(cls, client: Any, prefix: str) -> FeatureSets:
        key = StreamNames(prefix).feature_sets_key()
        return cls(lambda set_id: client.hget(key, set_id))


# -- encoding ------------------------------------------------------------------------------


def encode_feature_entry(
    head: Mapping[str, Any], features: Sequence[float] | np.ndarray, names: Sequence[str]
) -> dict[bytes, bytes]:
    """The fields of one feature entry (the reference the batch encoder matches byte for
    byte)."""
    x = np.asarray(features, dtype=X_DTYPE)
    if x.shape != (len(names),):
        raise ValueError(f"{x.size} feature values for {len(names)} names")
    body = {**head, FEATURE_SET_KEY: feature_set_id(names)}
    return {
        VERSION_FIELD: FEATURE_ENCODING,
        DATA_FIELD: orjson.dumps(body, option=orjson.OPT_UTC_Z),
        X_FIELD: x.tobytes(),
    }


def packed_features(matrix: np.ndarray) -> pa.Array:
    """Each row of ``matrix`` as its ``x`` field: a binary array over one copy of the matrix,
    no Python object a row.

    >>> packed_features(np.array([[1.0, 2.0]]))[0].as_py() == np.array([1.0, 2.0]).tobytes()
    True
    """
    import pyarrow as pa

    rows, width = matrix.shape
    data = np.ascontiguousarray(matrix, dtype=X_DTYPE)
    offsets = np.arange(rows + 1, dtype=np.int32) * (width * X_DTYPE.itemsize)
    return pa.Array.from_buffers(
        pa.binary(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def record_heads(records: Sequence[Transaction], ingest_ms: np.ndarray) -> pa.Array:
    """The heads of validated records up to ``ingest_ms`` (what :func:`finish_heads` takes):
    each record's JSON with ``timestamp`` named ``event_time`` and ``ingest_ms`` appended; one
    msgspec call and Arrow kernels.

    The first ``"timestamp":`` of a record's JSON is its key: a quote inside a string value is
    escaped, and ``timestamp`` is the second field of :class:`~rtad.common.schema.Transaction`.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    lines = _RECORD_ENCODER.encode_lines(records).split(b"\n")[:-1]  # msgspec escapes newlines
    heads = pc.replace_substring(
        pa.array(lines, pa.binary()), '"timestamp":', '"event_time":', max_replacements=1
    )
    ingest = pa.array(ingest_ms, pa.int64()).cast(pa.string()).cast(pa.binary())
    return pc.binary_join_element_wise(
        pc.binary_slice(heads, 0, -1), b',"ingest_ms":', ingest, b"}", b""
    )


def finish_heads(heads: pa.Array, feature_ms: int, feature_set: str) -> pa.Array:
    """Heads up to ``ingest_ms`` (``{...,"ingest_ms":N}``) → entry heads: ``feature_ms`` and
    ``feature_set`` appended by Arrow kernels (one scalar tail for the whole batch).

    >>> import pyarrow as pa
    >>> finish_heads(pa.array([b'{"ingest_ms":1}']), 2, "abc").to_pylist()
    [b'{"ingest_ms":1,"feature_ms":2,"feature_set":"abc"}']
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    tail = f',"feature_ms":{feature_ms},"{FEATURE_SET_KEY}":{orjson.dumps(feature_set).decode()}}}'
    return pc.binary_join_element_wise(
        pc.binary_slice(heads.cast(pa.binary()), 0, -1), tail.encode(), b""
    )


def pack_feature_xadds(key: str, heads: pa.Array, xs: pa.Array) -> memoryview:
    """``XADD key * v 2 d <head> x <x>`` for every entry, in Redis' wire format, as one
    buffer (Arrow kernels: the lengths of the heads and features, and the join of the parts)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    heads, xs = heads.cast(pa.binary()), xs.cast(pa.binary())

    def part(value: bytes) -> pa.Scalar:
        return pa.scalar(value, pa.binary())

    def lengths(data: pa.Array) -> pa.Array:
        return pc.binary_length(data).cast(pa.string()).cast(pa.binary())

    packed = pc.binary_join_element_wise(
        part(xadd_prefix(key, FEATURE_ENCODING, pairs=3) + b"$"),
        lengths(heads),
        part(b"\r\n"),
        heads,
        part(b"\r\n" + pack_command(X_FIELD)[4:] + b"$"),
        lengths(xs),
        part(b"\r\n"),
        xs,
        part(b"\r\n"),
        part(b""),
    )
    if not len(packed):
        return memoryview(b"")
    _, offsets, values = packed.buffers()
    bounds = np.frombuffer(offsets, np.int32)[[packed.offset, packed.offset + len(packed)]]
    return memoryview(values)[int(bounds[0]) : int(bounds[1])]


# -- decoding ------------------------------------------------------------------------------


def entry_parts(fields: Sequence[Any]) -> tuple[list[bytes], list[bytes]] | None:
    """The heads and ``x`` of raw entries all exactly ``[b"v", b"2", b"d", head, b"x", x]``
    (what the Spark job writes), or None if any entry is anything else.

    >>> entry_parts([[b"v", b"2", b"d", b"{}", b"x", b"01234567"]])
    ([b'{}'], [b'01234567'])
    >>> entry_parts([[b"v", b"1", b"d", b"{}"]]) is None
    True
    """
    values = fixed_fields(fields, ENTRY_LAYOUT)
    return None if values is None else (values[0], values[1])


def feature_matrix(xs: list[bytes], count: int) -> np.ndarray | None:
    """The ``x`` fields of many entries of one set of ``count`` features as one matrix (one
    join, read as one array), or None when any is not of that size.

    >>> feature_matrix([np.array([1.0, 2.0]).tobytes()], 2).tolist()
    [[1.0, 2.0]]
    """
    if list(map(len, xs)).count(X_DTYPE.itemsize * count) != len(xs):
        return None
    return np.frombuffer(b"".join(xs), X_DTYPE).reshape(len(xs), count)


def check_encoding(fields: Mapping[Any, Any]) -> None:
    """Raise :class:`UndecodableEntry` unless ``fields`` say encoding 2.

    >>> check_encoding({b"v": b"1", b"d": b"{}"})
    Traceback (most recent call last):
    rtad.common.encoding.UndecodableEntry: unsupported encoding version b'1' (expected b'2')
    """
    version = fields.get(VERSION_FIELD, fields.get("v"))
    if version not in _VERSIONS:
        raise UndecodableEntry(f"unsupported encoding version {version!r} (expected b'2')")


def features_of(fields: Mapping[Any, Any], count: int) -> np.ndarray:
    """The ``x`` field of one entry as ``count`` doubles; raises :class:`UndecodableEntry`."""
    x = fields.get(X_FIELD, fields.get("x"))
    if not isinstance(x, bytes):
        raise UndecodableEntry("feature entry has no 'x' field")
    if len(x) != count * X_DTYPE.itemsize:
        raise UndecodableEntry(
            f"'x' holds {len(x)} bytes, not {count} doubles of the entry's feature set"
        )
    return np.frombuffer(x, X_DTYPE)


def column_index(
    set_id: str, set_names: tuple[str, ...], names: tuple[str, ...]
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Where each of ``names`` is in the feature set, and the ones it lacks.

    Kept per set id and names (an id names one list for ever).

    >>> column_index("id-of-abc", ("a", "b", "c"), ("c", "a"))
    (array([2, 0]), ())
    >>> column_index("id-of-ab", ("a", "b"), ("a", "z"))[1]
    ('z',)
    """
    key = (set_id, names)
    found = _COLUMNS.get(key)
    if found is None:
        position = {name: i for i, name in enumerate(set_names)}
        missing = tuple(name for name in names if name not in position)
        index = np.array([position.get(name, 0) for name in names], dtype=np.intp)
        found = _COLUMNS[key] = (index, missing)
    return found


def decode_feature_entry(
    fields: Mapping[Any, Any], sets: Mapping[str, Sequence[str]] | FeatureSets
) -> dict[str, Any]:
    """An entry as one dict, ``features`` a dict of name → value; raises
    :class:`UndecodableEntry` with the reason."""
    head = _head(fields)
    set_id = head.pop(FEATURE_SET_KEY, None)
    if not isinstance(set_id, str):
        raise UndecodableEntry("feature entry has no feature_set")
    names = sets.get(set_id)
    if names is None:
        raise UndecodableEntry(f"unknown feature set {set_id!r}")
    head["features"] = dict(zip(names, features_of(fields, len(names)).tolist(), strict=True))
    return head


def _head(fields: Mapping[Any, Any]) -> dict[str, Any]:
    check_encoding(fields)
    data = fields.get(DATA_FIELD, fields.get("d"))
    try:
        head = orjson.loads(data) if data is not None else None
    except orjson.JSONDecodeError as exc:
        raise UndecodableEntry(f"head is not JSON: {exc}") from None
    if not isinstance(head, dict):
        raise UndecodableEntry("head is not a JSON object")
    return head
