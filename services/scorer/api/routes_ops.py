"""Operations: ``/healthz``, ``/readyz``, ``/metrics``, ``GET /v1/stats``."""

from __future__ import annotations

from typing import Any

import redis
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from rtad.scorer.api.deps import HolderDep, RedisDep, StateDep, StatsDep
from rtad.scorer.api.problems import problem_responses
from rtad.scorer.api.schemas import Readiness
from rtad.scorer.model_holder import detector_name

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses=problem_responses(503),
)
async def readyz(state: StateDep, client: RedisDep) -> JSONResponse:
    """Readiness: a model is loaded AND Redis answers (503 with the reason otherwise).

    With the worker enabled, its thread must also be alive (it never returns unless stopped).
    """
    model = state.holder.current
    if state.runner is not None and not state.runner.alive:
        return JSONResponse({"status": "unready", "detail": "worker stopped"}, status_code=503)
    where = state.settings.redis_url_masked
    try:
        await client.ping()
    except (redis.AuthenticationError, redis.ResponseError) as exc:
        detail = f"Redis at {where} refused the credentials ({exc}): check RTAD_REDIS_URL"
        return JSONResponse({"status": "unready", "detail": detail}, status_code=503)
    except (redis.RedisError, OSError) as exc:
        detail = f"Redis at {where} is not reachable ({exc})"
        return JSONResponse({"status": "unready", "detail": detail}, status_code=503)
    return JSONResponse({"status": "ready", "model_version": model.version})


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "Prometheus text exposition format.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def metrics() -> Response:
    """Prometheus exposition of the process (worker and API)."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/stats", responses=problem_responses(503))
async def stats(collector: StatsDep, holder: HolderDep) -> dict[str, Any]:
    """A summary of the whole pipeline for the live page (cached for 1 s). Shape::

        {
          "generated_at": 1767225600.123,            # epoch seconds
          "model": {"version": "…", "detector": "…", "threshold": 0.61},
          "totals": {"scored": 120000, "anomalies": 840, "anomaly_rate": 0.007},
          "throughput": {                            # per stage, from XINFO STREAM
            "tx":       {"entries_added": 130000, "per_s": 2010.5},   # per_s: over ~10 s,
            "features": {"entries_added": 125000, "per_s": 1998.0},   # null on the first
            "scores":   {"entries_added": 120000, "per_s": 2001.2}    # call of a process
          },
          "latency_ms": {"p50": 812.4, "p99": 1430.0, "window_s": 60},  # ingest → scored,
                                                       # last 60 s; null when nothing scored
          "consumer": {"group": "scorer", "lag": 120, "pending": 800,
                       "shards": [{"shard": 0, "lag": 30, "pending": 200}, …]},
          "series": {"bucket_s": 5, "points": [       # last 10 min, oldest first, 120 points
              {"t": 1767225000, "scored": 10000, "anomalies": 70, "p99_ms": 1400.0}, …]},
          "scenarios": [                              # labelled rows only; [] without labels
              {"scenario": "card_testing", "count": 120, "detected": 96, "rate": 0.8},
              {"scenario": "genuine", "count": 118000, "detected": 500, "rate": 0.004}, …]
        }

    ``totals``, ``series`` and ``scenarios`` are committed by the workers in the same
    script as the scores (exactly once, all replicas together). For ``genuine`` rows,
    ``detected`` counts false alarms. ``p99_ms`` of a bucket is null when it scored nothing.
    """
    model = holder.current
    info = {
        "version": model.version,
        "detector": detector_name(model),
        "threshold": float(model.threshold),
    }
    return await collector.snapshot(info)
