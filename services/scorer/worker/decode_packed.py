"""Feature entries of encoding 2 (a JSON head, the features as packed doubles) → heads and X.

The entry format is :mod:`rtad.common.feature_entry`'s. A clean batch (:func:`decode_packed`)
costs ONE msgspec ``decode_lines`` call over the heads, one join of the ``x`` fields read as
one array, and one fancy index for the model's columns in the model's order
(:func:`column_index`, kept per feature set and model). :func:`decode_packed_entry` reads one
entry of any shape and says why it cannot be read. The batch logic around both (the other
encoding, dead letters) is :mod:`rtad.scorer.worker.decode`'.

>>> from rtad.common.feature_entry import encode_feature_entry, feature_set_id
>>> head = {"transaction_id": "t1", "user_id": "u1", "merchant_id": "m1", "amount": 2.5,
...         "event_time": "2026-01-01T00:00:00Z", "ingest_ms": 1}
>>> fields = encode_feature_entry(head, [0.5, 7.0], ("a", "b"))
>>> sets = {feature_set_id(("a", "b")): ("a", "b")}.get
>>> rows, X = decode_packed([fields[b"d"]], [fields[b"x"]], ("b", "a"), sets)
>>> rows[0].transaction_id, X.tolist()
('t1', [[7.0, 0.5]])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np

from rtad.common.encoding import (
    DATA_FIELD,
    FEATURE_ENCODING,
    VERSION_FIELD,
    X_FIELD,
    UndecodableEntry,
    as_bytes,
    fixed_fields,
    one_object_per_payload,
)
from rtad.common.feature_entry import X_DTYPE, features_of
from rtad.scorer.scoring import FeatureHead, decode_row, head_decoder

#: A feature set's names by id, None if unknown (a :meth:`FeatureSets.get`).
SetLookup = Callable[[str], tuple[str, ...] | None]
#: The raw fields of a clean entry (None: the head, the features).
_LAYOUT = (VERSION_FIELD, FEATURE_ENCODING, DATA_FIELD, None, X_FIELD, None)
_feature_set = attrgetter("feature_set")
_COLUMNS: dict[tuple[str, tuple[str, ...]], tuple[np.ndarray, tuple[str, ...]]] = {}


def packed_parts(fields: Sequence[Any]) -> tuple[list[bytes], list[bytes]] | None:
    """The heads and ``x`` of entries all exactly ``[b"v", b"2", b"d", head, b"x", x]``, or None.

    That is what the Spark job writes.

    >>> packed_parts([[b"v", b"2", b"d", b"{}", b"x", b"01234567"]])
    ([b'{}'], [b'01234567'])
    >>> packed_parts([[b"v", b"1", b"d", b"{}"]]) is None
    True
    """
    values = fixed_fields(fields, _LAYOUT)
    return None if values is None else (values[0], values[1])


def decode_packed(
    heads: list[bytes], xs: list[bytes], names: tuple[str, ...], sets: SetLookup
) -> tuple[list[FeatureHead], np.ndarray] | None:
    """The heads and X (model order, non-finite values included) of a clean batch, or None.

    Clean: every head is valid and names the same known set, which holds every model
    feature, and every ``x`` is of that set's size.
    """
    n = len(heads)
    try:
        joined, packed = b"\n".join(heads), b"".join(xs)
    except TypeError:  # a field that is not bytes
        return None
    if not one_object_per_payload(joined, heads):
        return None
    try:
        rows = head_decoder.decode_lines(joined)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    if len(rows) != n:
        return None
    set_id = rows[0].feature_set
    set_names = sets(set_id) if list(map(_feature_set, rows)).count(set_id) == n else None
    if set_names is None or list(map(len, xs)).count(X_DTYPE.itemsize * len(set_names)) != n:
        return None
    index, missing = column_index(set_id, set_names, names)
    if missing:
        return None
    X = np.frombuffer(packed, X_DTYPE).reshape(n, len(set_names))
    return rows, X.take(index, axis=1)


def decode_packed_entry(
    fields: dict[Any, Any], names: tuple[str, ...], sets: SetLookup
) -> tuple[FeatureHead, np.ndarray]:
    """The head and the model's features of one entry of encoding 2.

    Raises :class:`UndecodableEntry` (no head, unknown feature set, ``x`` missing or of the
    wrong size) or ``ValueError`` (a head that is not JSON or not valid, a model feature the
    set lacks), with a one-line reason.
    """
    data = fields.get(DATA_FIELD, fields.get("d"))
    if data is None:
        raise UndecodableEntry("entry has no 'd' field")
    head = decode_row(as_bytes(data), head_decoder)
    set_names = sets(head.feature_set)
    if set_names is None:
        raise UndecodableEntry(f"unknown feature set {head.feature_set!r}")
    x = features_of(fields, len(set_names))
    index, missing = column_index(head.feature_set, set_names, names)
    if missing:
        raise ValueError(
            f"feature {missing[0]!r} is not in the entry's feature set {head.feature_set}"
        )
    return head, x[index]


def column_index(
    set_id: str, set_names: tuple[str, ...], names: tuple[str, ...]
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Where each of ``names`` is in the feature set, and the ones it lacks.

    Kept per set id and model names (an id names one list for ever).

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
