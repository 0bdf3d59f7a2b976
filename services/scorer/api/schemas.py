"""Request and response bodies of the scorer's HTTP API (pydantic, strict)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

#: Hard cap of rows per request (``RTAD_MAX_ROWS`` may lower it).
MAX_ROWS = 10_000
MAX_FEATURES = 512

#: Feature values beyond this magnitude are refused: no feature comes near it, and sums of
#: values near the float limit overflow to NaN scores.
MAX_FEATURE_MAGNITUDE = 1e15

FeatureValue = Annotated[
    float,
    Field(strict=True, allow_inf_nan=False, ge=-MAX_FEATURE_MAGNITUDE, le=MAX_FEATURE_MAGNITUDE),
]
Name = Annotated[str, Field(min_length=1, max_length=128)]


class ScoreRow(BaseModel):
    """One transaction to score: its id and its features by name (extra names are ignored)."""

    model_config = ConfigDict(strict=True, extra="ignore")

    transaction_id: Name
    features: Annotated[dict[Name, FeatureValue], Field(max_length=MAX_FEATURES)]
    user_id: Name | None = None


class ScoreRequest(BaseModel):
    """``{"rows": [{"transaction_id": "t1", "features": {"amount_log": 3.2, ...}}, ...]}``"""

    model_config = ConfigDict(strict=True, extra="forbid")

    rows: Annotated[list[ScoreRow], Field(min_length=1, max_length=MAX_ROWS)]


class Reason(BaseModel):
    code: str
    text: str


class ScoreResult(BaseModel):
    transaction_id: str
    score: float
    is_anomaly: bool
    reasons: list[Reason]


class ScoreResponse(BaseModel):
    model_version: str
    threshold: float
    results: list[ScoreResult]


class ModelInfo(BaseModel):
    """The model in use and its card (as the ML engineer's model store wrote it)."""

    version: str
    detector: str
    threshold: float
    feature_names: list[str]
    path: str
    loaded_at: float
    card: dict[str, Any]


class ReloadRequest(BaseModel):
    """Optional body of ``POST /v1/model/reload``: another artifact beside the current one."""

    model_config = ConfigDict(extra="forbid")

    path: Annotated[str, Field(min_length=1, max_length=1024)] | None = None


class AlertsPage(BaseModel):
    """Most recent alerts first; pass ``next_cursor`` as ``cursor`` for the next page."""

    alerts: list[dict[str, Any]]
    next_cursor: str | None


class Readiness(BaseModel):
    """``GET /readyz`` when ready: the model in use."""

    status: str
    model_version: str


class LabelsAccepted(BaseModel):
    """Answer of ``POST /v1/labels``: every label of the batch was written."""

    accepted: int


class ProblemItem(BaseModel):
    """Where one thing is wrong: ``loc`` (``body.rows.0.features``, ``labels[3]``) and why."""

    loc: str
    msg: str
    type: str | None = None


class Problem(BaseModel):
    """Every 4xx/5xx body: ``detail`` is one line saying what is wrong (see ``problems``)."""

    detail: str
    errors: list[ProblemItem] | None = None
