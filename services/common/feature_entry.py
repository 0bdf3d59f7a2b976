"""Feature entries, encoding version 2: a JSON head and the features as packed doubles.

A feature entry has three fields::

    v  b"2"
    d  compact JSON: the transaction record as validated — transaction_id, event_time (its
       ``timestamp``, zone as written), user_id, merchant_id, amount, currency, latitude,
       longitude, and merchant_category / channel / country / is_fraud / fraud_scenario when
       present — then ingest_ms (the tx entry's ID time), feature_ms, feature_set
    x  the features, float64 little-endian, in the order of the entry's feature set

``feature_set`` is the id of an ordered list of feature names (:func:`feature_set_id`), kept
in Redis in the hash ``<prefix>:meta:feature-sets`` (id → JSON list of names) by whoever
writes entries of that set (:func:`register_feature_set`) — the Spark job at start — and read
by the scorer when it meets an id it has not seen. Like a schema registry: the names travel
once, not in every entry, and a reader built for another list of features still reads them
by name.

Why not JSON for the features too (encoding 1, which the scorer still reads): 29 doubles in
JSON cost the JVM ``to_json`` and the scorer's decoder more than anything else in their
stages, and a double printed and parsed back is the same double, so the bytes lose nothing.
A non-finite feature stays what it is (NaN, ±inf); the scorer refuses such a row with a
reason, as it refused the ``null`` of encoding 1.

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
from typing import Any

import numpy as np
import orjson

from rtad.common.encoding import (
    DATA_FIELD,
    FEATURE_ENCODING,
    VERSION_FIELD,
    X_FIELD,
    UndecodableEntry,
    as_text,
)

#: The head's key naming the entry's feature set.
FEATURE_SET_KEY = "feature_set"
#: The features' wire type: float64, little-endian.
X_DTYPE = np.dtype("<f8")


def feature_set_id(names: Sequence[str]) -> str:
    """A stable short id of an ordered list of feature names (12 hex digits of SHA-256).

    >>> feature_set_id(["a", "b"]) != feature_set_id(["b", "a"])
    True
    """
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:12]


def feature_sets_key(prefix: str) -> str:
    """The Redis hash of the feature sets of a deployment (id → JSON list of names)."""
    return f"{prefix}:meta:feature-sets"


def register_feature_set(client: Any, prefix: str, names: Sequence[str]) -> str:
    """Record ``names`` under their id (idempotent) and return the id."""
    set_id = feature_set_id(names)
    client.hset(feature_sets_key(prefix), set_id, orjson.dumps(list(names)))
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
        key = feature_sets_key(prefix)
        return cls(lambda set_id: client.hget(key, set_id))


def encode_feature_entry(
    head: Mapping[str, Any], features: Sequence[float] | np.ndarray, names: Sequence[str]
) -> dict[bytes, bytes]:
    """The fields of one feature entry (the reference: the Spark job packs the same bytes)."""
    x = np.asarray(features, dtype=X_DTYPE)
    if x.shape != (len(names),):
        raise ValueError(f"{x.size} feature values for {len(names)} names")
    body = {**head, FEATURE_SET_KEY: feature_set_id(names)}
    return {
        VERSION_FIELD: FEATURE_ENCODING,
        DATA_FIELD: orjson.dumps(body, option=orjson.OPT_UTC_Z),
        X_FIELD: x.tobytes(),
    }


def decode_feature_entry(
    fields: Mapping[Any, Any], sets: Mapping[str, Sequence[str]] | FeatureSets
) -> dict[str, Any]:
    """An entry of encoding 2 as one dict, ``features`` a dict of name → value; raises
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


def features_of(fields: Mapping[Any, Any], count: int) -> np.ndarray:
    """The ``x`` field as ``count`` doubles; raises :class:`UndecodableEntry`."""
    x = fields.get(X_FIELD, fields.get("x"))
    if not isinstance(x, bytes):
        raise UndecodableEntry("feature entry has no 'x' field")
    if len(x) != count * X_DTYPE.itemsize:
        raise UndecodableEntry(
            f"'x' holds {len(x)} bytes, not {count} doubles of the entry's feature set"
        )
    return np.frombuffer(x, X_DTYPE)


def _head(fields: Mapping[Any, Any]) -> dict[str, Any]:
    version = fields.get(VERSION_FIELD, fields.get("v"))
    if as_text(version) != FEATURE_ENCODING.decode():
        raise UndecodableEntry(f"not a feature entry of encoding 2 (v={version!r})")
    data = fields.get(DATA_FIELD, fields.get("d"))
    try:
        head = orjson.loads(data) if data is not None else None
    except orjson.JSONDecodeError as exc:
        raise UndecodableEntry(f"head is not JSON: {exc}") from None
    if not isinstance(head, dict):
        raise UndecodableEntry("head is not a JSON object")
    return head
