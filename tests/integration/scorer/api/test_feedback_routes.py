"""GET /v1/quality and POST /v1/model/promote on the real app and a real redis-server."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from rtad.common.local_redis import LocalRedis
from tests.integration.scorer.helpers import app_client

pytestmark = pytest.mark.redis
KEY = {"X-API-Key": "s3cret"}


def client_for(url: str, models: Path, challenger: bool) -> AbstractContextManager[TestClient]:
    """The app without its worker, serving the champion (and the challenger, if asked)."""
    path = models / "challenger" if challenger else None
    return app_client(url, models / "champion", path, api_key="s3cret", worker_enabled=False)


def test_quality_answers_per_model_role_before_any_verdict(
    redis_server: LocalRedis, models_dir: Path
) -> None:
    with client_for(redis_server.url, models_dir, challenger=True) as client:
        body = client.get("/v1/quality").json()
    assert body["k"] == 100 and body["verdicts"]["total"] == 0
    assert set(body["models"]) == {"champion", "challenger"}
    assert body["models"]["champion"]["precision"] is None
    assert body["models"]["champion"]["recall"] is None


def test_quality_is_computed_once_an_interval_however_often_it_is_asked(
    redis_server: LocalRedis, models_dir: Path
) -> None:
    counter = redis.Redis.from_url(redis_server.url)

    def commands() -> int:
        return int(counter.info("stats")["total_commands_processed"])

    commands()  # connected: from now on one command (INFO) a call

    path = models_dir / "challenger"
    with app_client(redis_server.url, models_dir / "champion", path, api_key="s3cret",
                    worker_enabled=False, quality_interval_s=60) as client:  # fmt: skip
        before = commands()
        first = client.get("/v1/quality").json()
        one = commands() - before - 1  # the figures' commands (and this INFO)
        assert one > 2
        before = commands()
        again = [client.get("/v1/quality").json() for _ in range(20)]
        assert commands() - before == 1  # only the INFO: the 20 answers came from the last one
        assert all(body == first for body in again)
        client.post("/v1/model/promote", headers=KEY)  # new roles: figures computed again
        before = commands()
        swapped = client.get("/v1/quality").json()
        assert commands() - before > 2
    assert swapped["models"]["champion"]["version"] == first["models"]["challenger"]["version"]


def test_promote_needs_the_key_and_swaps_the_pair(
    redis_server: LocalRedis, models_dir: Path
) -> None:
    with client_for(redis_server.url, models_dir, challenger=True) as client:
        before = client.get("/v1/quality").json()["models"]
        assert client.post("/v1/model/promote").status_code == 401
        answer = client.post("/v1/model/promote", headers=KEY)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "champion": before["challenger"]["version"],
            "challenger": before["champion"]["version"],
        }
        assert client.get("/v1/model").json()["version"] == before["challenger"]["version"]


def test_promote_without_a_challenger_is_a_409_with_one_line(
    redis_server: LocalRedis, models_dir: Path
) -> None:
    with client_for(redis_server.url, models_dir, challenger=False) as client:
        answer = client.post("/v1/model/promote", headers=KEY)
    assert answer.status_code == 409
    assert "no challenger" in answer.json()["detail"]


def test_the_live_page_carries_the_quality_panel_and_its_script(
    redis_server: LocalRedis, models_dir: Path
) -> None:
    with client_for(redis_server.url, models_dir, challenger=True) as client:
        page = client.get("/").text
        script = client.get("/quality.js")
        budget = client.get("/v1/quality").json()["alert_budget"]
    assert 'id="quality-panel"' in page and 'src="quality.js"' in page
    assert script.status_code == 200 and "v1/quality" in script.text
    assert budget == {"mode": "fixed", "per_hour": 100.0}
