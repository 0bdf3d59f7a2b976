"""The HTTP API on a real app (lifespan, worker thread, real redis-server)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from rtad.common.local_redis import LocalRedis
from rtad.common.streams import StreamNames
from tests.integration.scorer.helpers import app_client, wait_until
from tests.unit.scorer.support import publish, read_stream

pytestmark = pytest.mark.redis


def _body(rows: list[dict], n: int = 20) -> dict:
    return {
        "rows": [
            {"transaction_id": r["transaction_id"], "features": r["features"]} for r in rows[:n]
        ]
    }


def test_score_answers_every_row_with_its_reasons(
    redis_server: LocalRedis, model_dir: Path, scorer_rows: list[dict]
) -> None:
    with app_client(redis_server.url, model_dir, worker_enabled=False) as client:
        answer = client.post("/v1/score", json=_body(scorer_rows, 300))
        model = client.get("/v1/model").json()
    assert answer.status_code == 200
    body = answer.json()
    assert body["model_version"] == model["version"] and len(body["results"]) == 300
    assert [r["transaction_id"] for r in body["results"]] == [
        r["transaction_id"] for r in scorer_rows[:300]
    ]
    flagged = [r for r in body["results"] if r["is_anomaly"]]
    assert flagged and all(r["score"] >= body["threshold"] for r in flagged)
    assert all(r["reasons"] and set(r["reasons"][0]) == {"code", "text"} for r in flagged)
    assert model["card"]["feature_names"] == model["feature_names"]


def _bad_bodies(rows: list[dict]) -> list[tuple[str, object, str]]:
    row = {"transaction_id": "t1", "features": dict(rows[0]["features"])}
    missing = {"transaction_id": "t1", "features": {"amount_log": 1.0}}
    as_text = {"transaction_id": "t1", "features": {**row["features"], "count_1h": "3"}}
    return [
        ("missing features", {"rows": [row, missing]}, "rows[1]: missing feature(s)"),
        ("wrong type", {"rows": [as_text]}, "rows.0.features.count_1h"),
        ("no rows", {"rows": []}, "rows: List should have at least 1 item"),
        ("not an object", [1, 2], "body"),
        ("unknown field", {"rows": [row], "extra": 1}, "extra"),
    ]


@pytest.mark.parametrize("case", range(5))
def test_bad_bodies_get_a_4xx_with_one_clear_line(
    redis_server: LocalRedis, model_dir: Path, scorer_rows: list[dict], case: int
) -> None:
    _name, body, expected = _bad_bodies(scorer_rows)[case]
    with app_client(redis_server.url, model_dir, worker_enabled=False) as client:
        answer = client.post("/v1/score", json=body)
    assert answer.status_code == 422
    assert expected in answer.json()["detail"]


def test_nan_infinity_and_broken_json_are_refused(
    redis_server: LocalRedis, model_dir: Path, scorer_rows: list[dict]
) -> None:
    names = list(scorer_rows[0]["features"])
    values = ", ".join(f'"{n}": 1.0' for n in names[1:])
    headers = {"content-type": "application/json"}
    with app_client(redis_server.url, model_dir, worker_enabled=False) as client:
        for token in ("NaN", "Infinity", "1e999"):
            features = f'{{"{names[0]}": {token}, {values}}}'
            text = f'{{"rows": [{{"transaction_id": "t", "features": {features}}}]}}'
            answer = client.post("/v1/score", content=text, headers=headers)
            assert answer.status_code == 422, token
            assert "finite" in answer.json()["detail"] or "JSON" in answer.json()["detail"]
        broken = client.post("/v1/score", content=b'{"rows": [', headers=headers)
        assert broken.status_code == 422 and "JSON" in broken.json()["detail"]


def test_sizes_are_limited(
    redis_server: LocalRedis, model_dir: Path, scorer_rows: list[dict]
) -> None:
    with app_client(
        redis_server.url, model_dir, worker_enabled=False, max_rows=5, max_body_bytes=64 * 1024
    ) as client:
        too_many = client.post("/v1/score", json=_body(scorer_rows, 6))
        assert too_many.status_code == 413 and "limit is 5" in too_many.json()["detail"]
        big = client.post("/v1/score", content=b"{" + b" " * 70_000 + b"}")
        assert big.status_code == 413 and "larger than" in big.json()["detail"]

        def chunks():  # no Content-Length: counted while received
            for _ in range(20):
                yield b" " * 8192

        streamed = client.post(
            "/v1/score", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413


def test_reload_needs_the_admin_key_and_swaps_the_model(
    redis_server: LocalRedis, models_dir: Path
) -> None:
    champion = models_dir / "champion"
    with app_client(redis_server.url, champion, worker_enabled=False) as client:
        disabled = client.post("/v1/model/reload", headers={"X-API-Key": "anything"})
        assert disabled.status_code == 403 and "admin API disabled" in disabled.json()["detail"]
    with app_client(redis_server.url, champion, worker_enabled=False, api_key="s3cret") as client:
        before = client.get("/v1/model").json()["version"]
        assert client.post("/v1/model/reload").status_code == 401
        assert client.post("/v1/model/reload", headers={"X-API-Key": "wrong"}).status_code == 401
        key = {"X-API-Key": "s3cret"}
        outside = client.post("/v1/model/reload", headers=key, json={"path": "/etc"})
        assert outside.status_code == 403 and "must be inside" in outside.json()["detail"]
        missing = client.post("/v1/model/reload", headers=key, json={"path": "nowhere"})
        assert missing.status_code == 404 and "no model at" in missing.json()["detail"]
        (models_dir / "broken").mkdir(exist_ok=True)
        (models_dir / "broken" / "model_card.json").write_text("{not json")
        broken = client.post("/v1/model/reload", headers=key, json={"path": "broken"})
        assert broken.status_code == 422 and "unreadable model card" in broken.json()["detail"]
        assert client.get("/v1/model").json()["version"] == before  # a failed load changes nothing
        swapped = client.post("/v1/model/reload", headers=key, json={"path": "challenger"})
        assert swapped.status_code == 200 and swapped.json()["version"] != before
        assert client.get("/v1/model").json()["version"] == swapped.json()["version"]
        metrics = client.get("/metrics").text
        version = swapped.json()["version"]
        info = f'rtad_scorer_model_info{{detector="isolation_forest",version="{version}"}} 1.0'
        assert info in metrics
        assert before not in metrics


def test_health_readiness_and_a_lost_redis(redis_factory, model_dir: Path) -> None:
    server = redis_factory()
    with app_client(server.url, model_dir, worker_enabled=False) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").status_code == 200
        server.stop()
        lost = client.get("/readyz")
        assert lost.status_code == 503 and "is not reachable" in lost.json()["detail"]
        for path in ("/v1/stats", "/v1/alerts"):
            away = client.get(path)
            assert away.status_code == 503 and "Redis unavailable" in away.json()["detail"]
        assert client.get("/healthz").status_code == 200


def test_stats_and_alert_pages_follow_the_worker(
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    model_dir: Path,
    scorer_rows: list[dict],
) -> None:
    with app_client(redis_server.url, model_dir) as client:
        publish(redis_client, names, scorer_rows)
        wait_until(lambda: client.get("/v1/stats").json()["totals"]["scored"] == len(scorer_rows))
        stats = client.get("/v1/stats").json()
        alerts = read_stream(redis_client, names, "alerts")
        pages, cursor = [], None
        while True:
            params = {"limit": 7} | ({"cursor": cursor} if cursor else {})
            page = client.get("/v1/alerts", params=params).json()
            pages += page["alerts"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        user = alerts[0]["user_id"]
        mine = client.get("/v1/alerts", params={"user_id": user, "limit": 500}).json()
        bad = client.get("/v1/alerts", params={"cursor": "nonsense"})
    assert stats["totals"]["anomalies"] == len(alerts)
    assert stats["totals"]["anomaly_rate"] == pytest.approx(len(alerts) / len(scorer_rows))
    assert stats["throughput"]["features"]["entries_added"] == len(scorer_rows)
    assert stats["throughput"]["scores"]["entries_added"] == len(scorer_rows)
    assert stats["consumer"]["lag"] == 0 and len(stats["consumer"]["shards"]) == 4
    assert stats["latency_ms"]["p99"] is not None
    assert len(stats["series"]["points"]) == 120
    assert sum(p["scored"] for p in stats["series"]["points"]) == len(scorer_rows)
    frauds = {s["scenario"]: s for s in stats["scenarios"]}
    assert frauds["genuine"]["count"] == sum(1 for r in scorer_rows if not r["is_fraud"])
    assert sorted(a["transaction_id"] for a in pages) == sorted(a["transaction_id"] for a in alerts)
    assert len({a["cursor"] for a in pages}) == len(pages)
    order = [(int(a["id"].split("-")[0]), int(a["id"].split("-")[1]), a["shard"]) for a in pages]
    assert order == sorted(order, reverse=True)
    assert mine["alerts"] and all(a["user_id"] == user for a in mine["alerts"])
    assert len(mine["alerts"]) == sum(1 for a in alerts if a["user_id"] == user)
    assert bad.status_code == 422 and "query.cursor" in bad.json()["detail"]


def test_fuzzed_alert_queries_never_give_a_server_error(
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    model_dir: Path,
    scorer_rows: list[dict],
) -> None:
    with app_client(redis_server.url, model_dir) as client:
        publish(redis_client, names, scorer_rows[:600])
        wait_until(lambda: client.get("/v1/stats").json()["totals"]["scored"] == 600)

        @settings(max_examples=150, deadline=None)
        @given(
            cursor=st.none() | st.text(max_size=90) | st.from_regex(r"\d{1,22}-\d{1,22}_\d{1,5}"),
            limit=st.none() | st.integers(-5, 1000) | st.text(max_size=5),
            user_id=st.none() | st.text(max_size=140),
        )
        def check(cursor: object, limit: object, user_id: object) -> None:
            given_params = (("cursor", cursor), ("limit", limit), ("user_id", user_id))
            params = {k: v for k, v in given_params if v is not None}
            answer = client.get("/v1/alerts", params=params)
            assert answer.status_code < 500, params
            if answer.status_code == 200:
                assert isinstance(answer.json()["alerts"], list)

        check()
