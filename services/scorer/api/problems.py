"""The one error model of the scorer's API: every 4xx/5xx body is a :class:`Problem`.

    {"detail": "labels[3]: Invalid enum value 'maybe' - at `$.verdict`",
     "errors": [{"loc": "labels[3]", "msg": "Invalid enum value 'maybe' ...", "type": "..."}]}

``detail`` is one line saying what is wrong; ``errors`` (optional) lists one entry per bad
field or item. The handlers here render every error the app raises that way:

- request validation (FastAPI/pydantic) → 422, ``errors`` one per field;
- a body that is not JSON at all (broken syntax, not UTF-8) → 422 too: every "the body is not
  what the contract says" is 422, so a client has one status to handle;
- any ``HTTPException`` (404, 405, 401, 403, 413 …) → its status, ``{"detail": …}``;
- Redis unavailable → 503.

A route declares the errors it can answer with :func:`problem_responses`; the OpenAPI builder
(:mod:`rtad.scorer.api.openapi`) adds the ones every route of a kind has (422 where there are
parameters or a body, 413 where there is a body, 401/403 where the API key is required), so
the document never lists an error body other than :class:`Problem`.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from rtad.scorer.api.schemas import Problem

log = logging.getLogger(__name__)

#: At most this many entries in ``errors`` of a validation error.
ERRORS_SHOWN = 10

DESCRIPTIONS = {
    400: "Bad request: the reason is in `detail`.",
    401: "Missing or wrong API key (header `X-API-Key`).",
    403: "The admin API is disabled: no API key is configured (`RTAD_API_KEY`).",
    404: "Not found.",
    413: "Request body (or batch) larger than the limit.",
    422: "The request does not satisfy the contract: `detail` says why, `errors` where.",
    503: "A dependency (Redis) is unavailable, or the service is not ready.",
}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route answering with these error codes, each a :class:`Problem`.

    >>> sorted(problem_responses(401, 422))
    [401, 422]
    """
    return {
        code: {"model": Problem, "description": DESCRIPTIONS.get(code, "Error.")} for code in codes
    }


def problem(
    status_code: int, detail: str, errors: list[dict[str, Any]] | None = None
) -> JSONResponse:
    """A :class:`Problem` response; ``detail`` is cut to its first line."""
    body: dict[str, Any] = {"detail": detail.splitlines()[0] if detail else "error"}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status_code)


def install_handlers(app: FastAPI) -> None:
    """Render every error of ``app`` as a :class:`Problem`."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    for unavailable in (redis.ConnectionError, redis.TimeoutError, redis.AuthenticationError):
        app.add_exception_handler(unavailable, _redis_error)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 with one line first; never echoes the input (it may hold NaN, not JSON-safe)."""
    assert isinstance(exc, RequestValidationError)
    raw = exc.errors()
    errors: list[dict[str, Any]] = []
    for error in raw[:ERRORS_SHOWN]:
        where = ".".join(_printable(part) for part in error.get("loc", ()))
        errors.append({"loc": where, "msg": str(error.get("msg", "")), "type": error.get("type")})
    first = errors[0] if errors else {"loc": "body", "msg": "invalid request"}
    more = len(raw) - 1
    detail = f"{first['loc']}: {first['msg']}" + (f" (and {more} more errors)" if more > 0 else "")
    return problem(422, detail, errors)


def _printable(part: object) -> str:
    """A location part as one printable line: a key of the client's (a feature name with a
    newline, say) is quoted, so ``detail`` stays one line."""
    text = str(part)
    return text if text.isprintable() else repr(text)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Its status and ``detail``; a body FastAPI could not even decode becomes a 422."""
    assert isinstance(exc, HTTPException)
    if isinstance(exc.__cause__, UnicodeError):
        reason = f"body: not UTF-8 JSON ({exc.__cause__.__class__.__name__})"
        return problem(422, reason, [{"loc": "body", "msg": reason, "type": "json_invalid"}])
    response = problem(exc.status_code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _redis_error(request: Request, exc: Exception) -> JSONResponse:
    """503 when a route needs Redis and Redis is away (the password is never in the text)."""
    log.warning("%s %s: Redis unavailable: %s", request.method, request.url.path, exc)
    reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return problem(503, f"Redis unavailable: {reason}")
