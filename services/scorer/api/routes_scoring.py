"""``POST /v1/score``, ``GET /v1/model``, ``POST /v1/model/reload``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Response, status
from fastapi.concurrency import run_in_threadpool

from rtad.common.errors import RtadError
from rtad.ml.model_store import CARD_FILE
from rtad.scorer.api.deps import AdminDep, HolderDep, SettingsDep
from rtad.scorer.api.problems import problem_responses
from rtad.scorer.api.schemas import ModelInfo, ReloadRequest, ScoreRequest, ScoreResponse
from rtad.scorer.model_holder import ModelHolder, ScoringModel, detector_name
from rtad.scorer.scoring import feature_matrix, score_matrix

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["scoring"])
ERRORS_SHOWN = 5


@router.post(
    "/score",
    response_model=ScoreResponse,
    responses=problem_responses(413, 422),
)
async def score(body: ScoreRequest, holder: HolderDep, settings: SettingsDep) -> Response:
    """Score a batch of feature rows with the current model; every row gets its reasons.

    The answer (``ScoreResponse``) is serialised with orjson directly: a large batch of
    results is not worth a second validation.
    """
    if len(body.rows) > settings.max_rows:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"{len(body.rows)} rows in one request; the limit is {settings.max_rows}",
        )
    model = holder.current
    return await run_in_threadpool(_score_rows, body, model)


def _score_rows(body: ScoreRequest, model: ScoringModel) -> Response:
    X, bad = feature_matrix([row.features for row in body.rows], model.feature_names)
    if bad:
        _refuse_rows(bad)
    scored = score_matrix(model, X, explain_all=True)
    if scored.failed:
        _refuse_rows(scored.failed)
    scores = scored.scores.tolist()
    flags = scored.is_anomaly.tolist()
    results = [
        {
            "transaction_id": row.transaction_id,
            "score": scores[i],
            "is_anomaly": flags[i],
            "reasons": scored.reasons[i],
        }
        for i, row in enumerate(body.rows)
    ]
    payload = {
        "model_version": model.version,
        "threshold": float(model.threshold),
        "results": results,
    }
    return Response(orjson.dumps(payload), media_type="application/json")


def _refuse_rows(bad: dict[int, str]) -> None:
    shown = "; ".join(f"rows[{i}]: {reason}" for i, reason in sorted(bad.items())[:ERRORS_SHOWN])
    more = f" (and {len(bad) - ERRORS_SHOWN} more rows)" if len(bad) > ERRORS_SHOWN else ""
    raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{shown}{more}")


@router.get("/model", response_model=ModelInfo)
async def model_card(holder: HolderDep) -> ModelInfo:
    """The model in use: version, threshold, feature order and its model card."""
    return _info(holder)


@router.post(
    "/model/reload",
    response_model=ModelInfo,
    responses=problem_responses(401, 403, 404, 422),
)
async def reload_model(
    _admin: AdminDep, holder: HolderDep, body: ReloadRequest | None = None
) -> ModelInfo:
    """Load the artifact again (or ``path``, beside the current one) and swap it in.

    In-flight batches finish with the model they started with; the next batch uses the new
    one. A ``path`` outside that directory is refused (403), one holding no model is 404;
    if loading fails the current model stays and the answer is 422 with the reason.
    Needs the ``X-API-Key`` header (``RTAD_API_KEY``).
    """
    target = _allowed_path(holder, body.path) if body and body.path else None
    if target is not None:
        _require_artifact(target)
    try:
        model = await run_in_threadpool(holder.reload, target)
    except (RtadError, OSError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, _one_line(exc)) from None
    log.info("model reloaded: version %s from %s", model.version, holder.path)
    return _info(holder)


def _allowed_path(holder: ModelHolder, requested: str) -> Path:
    """Only artifacts in the directory of the current one (e.g. ``models/``) may be loaded."""
    root = holder.path.resolve().parent
    candidate = Path(requested)
    target = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not target.is_relative_to(root):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"path must be inside {root} (the directory of the current model)",
        )
    return target


def _require_artifact(target: Path) -> None:
    """404 unless ``target`` holds a model card (an artifact directory of rtad.ml)."""
    try:
        found = (target / CARD_FILE).is_file()
    except OSError:  # a name too long for the file system, say
        found = False
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no model at {target} (no {CARD_FILE})")


def _one_line(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return f"cannot read the model: {exc.strerror or type(exc).__name__}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _info(holder: ModelHolder) -> ModelInfo:
    model = holder.current
    card: dict[str, Any] = dict(model.card or {})
    return ModelInfo(
        version=model.version,
        detector=detector_name(model),
        threshold=float(model.threshold),
        feature_names=list(model.feature_names),
        path=str(holder.path),
        loaded_at=holder.loaded_at,
        card=card,
    )
