"""The OpenAPI document is the contract: ``schemathesis run --checks all`` finds nothing.

The scorer runs as in production (uvicorn, the worker thread, a real redis-server, an API key);
schemathesis reads ``/openapi.json`` and sends what a client generated from it would send, plus
what it must refuse, checking every answer against the document: status codes, error bodies,
content types, ``Allow`` headers, authentication. Every operation is tried, those added later
included, except ``GET /v1/alerts/stream``: a Server-Sent Events answer never ends, so a client
that reads whole answers cannot check it (``test_live_server`` does, its errors are below).

The second test shows the run can fail: a route answering a status it does not document is
reported.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Response

from rtad.common.local_redis import LocalRedis
from rtad.scorer.api.app import create_app
from rtad.scorer.model_holder import ModelHolder
from tests.integration.scorer.helpers import live_server, settings_for

pytestmark = pytest.mark.redis

API_KEY = "contract-key"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
#: Examples per operation and phase: about a minute for every operation on two busy cores.
MAX_EXAMPLES = 25
SEED = 20261205


def _app(redis_url: str, model_dir: Path) -> FastAPI:
    settings = settings_for(redis_url, model_dir, api_key=API_KEY)
    return create_app(settings, ModelHolder(model_dir))


@pytest.fixture
def scorer_url(redis_server: LocalRedis, model_dir: Path) -> Iterator[str]:
    with live_server(_app(redis_server.url, model_dir)) as url:
        yield url


def run_schemathesis(url: str, workdir: Path, *options: str) -> tuple[int, str]:
    """``schemathesis run --checks all`` against ``url``: its exit code and output."""
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--header",
        f"X-API-Key: {API_KEY}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--generation-database",
        "none",
        "--request-timeout",
        "20",
        "--no-color",
        *options,
    ]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout + done.stderr


def test_schemathesis_finds_no_disagreement(scorer_url: str, tmp_path: Path) -> None:
    paths = httpx.get(f"{scorer_url}/openapi.json").json()["paths"]
    operations = sum(len(item) for item in paths.values()) - 1  # all but the alert stream
    code, output = run_schemathesis(scorer_url, tmp_path, "--exclude-path", "/v1/alerts/stream")
    assert code == 0, output[-6000:]
    assert f"Tested: {operations}" in output, output[-3000:]
    assert " passed" in output and "failed" not in output.split("SUMMARY")[-1], output[-3000:]


def test_the_alert_stream_documents_its_errors(scorer_url: str) -> None:
    document = httpx.get(f"{scorer_url}/openapi.json").json()
    responses = document["paths"]["/v1/alerts/stream"]["get"]["responses"]
    assert set(responses["200"]["content"]) == {"text/event-stream"}
    answer = httpx.get(f"{scorer_url}/v1/alerts/stream", headers={"Last-Event-ID": "garbage"})
    assert answer.status_code == 422 and set(answer.json()) == {"detail", "errors"}
    assert answer.json()["errors"][0]["loc"] == "header.last-event-id"


def test_an_undocumented_status_is_caught(
    redis_server: LocalRedis, model_dir: Path, tmp_path: Path
) -> None:
    app = _app(redis_server.url, model_dir)

    @app.get("/v1/teapot", responses={200: {"description": "Tea."}})
    async def teapot() -> Response:
        return Response(status_code=418)

    with live_server(app) as url:
        code, output = run_schemathesis(url, tmp_path, "--include-path", "/v1/teapot")
    assert code != 0
    assert "Undocumented status code" in output and "418" in output, output[-3000:]
