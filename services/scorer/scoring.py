"""Vectorised scoring of a batch of feature rows: decode, build X, one ``model.score(X)``.

Everything per row that can be done by C code is (msgspec decoding with validation,
``operator.itemgetter`` to pull the features in model order, msgspec encoding of the results);
reasons are computed in one vectorised call, for the anomalies only (the worker) or for every
row (the HTTP API). Rows that cannot be scored are returned with a one-line reason, never
dropped silently and never allowed to fail the rest of the batch.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
import numpy as np

from rtad.scorer.model_holder import ScoringModel


class EntryHead(msgspec.Struct, kw_only=True):
    """What a feature entry holds besides its features: what its score entry passes on."""

    transaction_id: str
    user_id: str
    merchant_id: str
    amount: float
    event_time: str
    ingest_ms: int
    currency: str | None = None
    feature_ms: int | None = None
    is_fraud: int | None = None
    fraud_scenario: str | None = None


class FeatureHead(EntryHead, kw_only=True, gc=False):
    """The ``d`` head of a feature entry (:mod:`rtad.common.feature_entry`).

    ``gc=False``: strings and numbers only (no reference cycle is possible), and untracked
    they cost the garbage collector nothing: otherwise a batch's heads set off collections
    that walk every head still alive.
    """

    feature_set: str


#: The decoder of the feature entries' heads (validated: a missing field is an error).
head_decoder = msgspec.json.Decoder(FeatureHead)


class ScoreRecord(msgspec.Struct, omit_defaults=True, gc=False):
    """One entry of ``rtad:scores:{s}`` (and of ``rtad:alerts:{s}`` for anomalies).

    ``gc=False`` as for the feature heads: no field can lead back to the record.
    """

    transaction_id: str
    user_id: str
    score: float
    is_anomaly: bool
    threshold: float
    model_version: str
    reasons: Sequence[dict[str, Any]]
    event_time: str
    ingest_ms: int
    scored_ms: int
    amount: float
    merchant_id: str
    is_fraud: int | None = None
    fraud_scenario: str | None = None


Row = TypeVar("Row", bound=EntryHead)
_encoder = msgspec.json.Encoder()
_FLOAT_MAX = float(np.finfo(np.float64).max)
#: The reasons of a row that was not explained (one shared immutable value, not a list a row).
NO_REASONS: tuple[dict[str, Any], ...] = ()


def decode_row(payload: bytes, decoder: msgspec.json.Decoder[Row]) -> Row:
    """Parse and validate one feature row or head; raises ``ValueError`` with a one-line reason."""
    try:
        return decoder.decode(payload)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid feature row: {_first_line(exc)}") from None
    except msgspec.DecodeError as exc:
        raise ValueError(f"feature row is not JSON: {_first_line(exc)}") from None


def encode_record(record: ScoreRecord) -> bytes:
    return _encoder.encode(record)


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


def feature_matrix(
    feature_maps: Sequence[dict[str, float]], names: Sequence[str]
) -> tuple[np.ndarray, dict[int, str]]:
    """``X`` (rows × names, float64) and ``{row index: reason}`` of the rows left out of it.

    A row is left out when a model feature is missing or not finite. The fast path is one
    C-level ``itemgetter`` a row; only a failing batch is walked row by row to name the culprit.
    """
    getter = operator.itemgetter(*names)
    try:
        values = [getter(f) for f in feature_maps]
        X = np.array(values, dtype=np.float64).reshape(len(feature_maps), len(names))
        bad: dict[int, str] = {}
    except (KeyError, TypeError, ValueError):
        X, bad = _matrix_row_by_row(feature_maps, names)
    return drop_non_finite(X, names, bad)


def drop_non_finite(
    X: np.ndarray, names: Sequence[str], bad: dict[int, str]
) -> tuple[np.ndarray, dict[int, str]]:
    """Add the non-finite rows to ``bad`` and return X without every bad row.

    The reason names the first non-finite feature of the row.
    """
    finite = np.isfinite(X).all(axis=1)
    if not finite.all():
        for i in np.flatnonzero(~finite).tolist():
            if i not in bad:
                column = names[int(np.flatnonzero(~np.isfinite(X[i]))[0])]
                bad[i] = f"feature {column!r} is not a finite number"
    if bad:
        keep = np.ones(len(X), dtype=bool)
        keep[list(bad)] = False
        X = X[keep]
    return X, bad


def _matrix_row_by_row(
    feature_maps: Sequence[dict[str, float]], names: Sequence[str]
) -> tuple[np.ndarray, dict[int, str]]:
    X = np.zeros((len(feature_maps), len(names)), dtype=np.float64)
    bad: dict[int, str] = {}
    for i, features in enumerate(feature_maps):
        missing = [n for n in names if n not in features]
        if missing:
            bad[i] = f"missing feature(s): {', '.join(missing[:5])}"
            continue
        try:
            X[i] = [float(features[n]) for n in names]
        except (TypeError, ValueError):
            bad[i] = "features must be numbers"
    return X, bad


@dataclass
class ScoredMatrix:
    """Scores of the rows of ``X``; ``reasons[i]`` is empty unless row i was explained."""

    scores: np.ndarray
    is_anomaly: np.ndarray
    reasons: list[Sequence[dict[str, Any]]]
    failed: dict[int, str] = field(default_factory=dict)


def score_matrix(
    model: ScoringModel,
    X: np.ndarray,
    *,
    explain_all: bool = False,
    thresholds: np.ndarray | None = None,
) -> ScoredMatrix:
    """One ``model.score(X)``; reasons for the anomalies (or for all rows) in one call.

    ``thresholds`` (one a row, the alert budget's) replaces the model's own threshold.

    If the model raises, the batch is bisected to isolate the rows that make it fail: they
    come back in ``failed`` (index → error) with a NaN score, the others are scored normally.
    A NaN score is a failure too; an infinite one is clipped to the largest float (JSON has
    no infinity, and "as suspicious as it gets" is what the model meant).
    """
    n = len(X)
    scores = np.full(n, np.nan)
    failed: dict[int, str] = {}
    _score_bisecting(model, X, np.arange(n), scores, failed)
    for i in np.flatnonzero(np.isnan(scores)).tolist():
        failed.setdefault(i, "model returned NaN for this row")
    np.clip(scores, -_FLOAT_MAX, _FLOAT_MAX, out=scores)
    ok = ~np.isnan(scores)
    limit = model.threshold if thresholds is None else thresholds
    is_anomaly = ok & (scores >= limit)
    reasons: list[Sequence[dict[str, Any]]] = [NO_REASONS] * n
    explain = np.flatnonzero(ok) if explain_all else np.flatnonzero(is_anomaly)
    if len(explain):
        for i, row_reasons in zip(explain.tolist(), model.reasons(X[explain]), strict=True):
            reasons[i] = list(row_reasons)
    return ScoredMatrix(scores=scores, is_anomaly=is_anomaly, reasons=reasons, failed=failed)


def _score_bisecting(
    model: ScoringModel,
    X: np.ndarray,
    index: np.ndarray,
    out: np.ndarray,
    failed: dict[int, str],
) -> None:
    if len(index) == 0:
        return
    try:
        out[index] = np.asarray(model.score(X[index]), dtype=np.float64).reshape(len(index))
    except Exception as exc:  # any model failure: isolate the culprit rows, keep the rest
        if len(index) == 1:
            failed[int(index[0])] = f"model failed on this row: {_first_line(exc)}"
            return
        half = len(index) // 2
        _score_bisecting(model, X, index[:half], out, failed)
        _score_bisecting(model, X, index[half:], out, failed)
