"""Feature entries (:mod:`rtad.common.feature_entry`) → the scorer's heads and X.

The format and its decoding are :mod:`rtad.common.feature_entry`'s; here the heads become the
scorer's msgspec structs. A clean batch (:func:`decode_packed`) costs ONE msgspec
``decode_lines`` call over the heads, one join of the ``x`` fields read as one array
(:func:`~rtad.common.feature_entry.feature_matrix`), and one fancy index for the model's
columns in the model's order (:func:`~rtad.common.feature_entry.column_index`).
:func:`decode_packed_entry` reads one entry of any shape and says why it cannot be read. The
batch logic around both (dead letters) is :mod:`rtad.scorer.worker.decode`'.

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

from collections.abc import Callable
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np

from rtad.common.encoding import DATA_FIELD, UndecodableEntry, as_bytes, one_object_per_payload
from rtad.common.feature_entry import check_encoding, column_index, feature_matrix, features_of
from rtad.scorer.scoring import FeatureHead, decode_row, head_decoder

#: A feature set's names by id, None if unknown (a :meth:`FeatureSets.get`).
SetLookup = Callable[[str], tuple[str, ...] | None]
_feature_set = attrgetter("feature_set")


def decode_packed(
    heads: list[bytes], xs: list[bytes], names: tuple[str, ...], sets: SetLookup
) -> tuple[list[FeatureHead], np.ndarray] | None:
    """The heads and X (model order, non-finite values included) of a clean batch, or None.

    Clean: every head is valid and names the same known set, which holds every model
    feature, and every ``x`` is of that set's size.
    """
    n = len(heads)
    try:
        joined = b"\n".join(heads)
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
    if set_names is None:
        return None
    index, missing = column_index(set_id, set_names, names)
    if missing:
        return None
    try:
        X = feature_matrix(xs, len(set_names))
    except TypeError:  # an x that is not bytes
        return None
    return None if X is None else (rows, X.take(index, axis=1))


def decode_packed_entry(
    fields: dict[Any, Any], names: tuple[str, ...], sets: SetLookup
) -> tuple[FeatureHead, np.ndarray]:
    """The head and the model's features of one entry.

    Raises :class:`UndecodableEntry` (another encoding than 2, no head, unknown feature set,
    ``x`` missing or of the wrong size) or ``ValueError`` (a head that is not JSON or not
    valid, a model feature the set lacks), with a one-line reason.
    """
    check_encoding(fields)
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
