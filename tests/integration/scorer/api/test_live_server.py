"""The app behind a real uvicorn server: Server-Sent Events and a promtool-clean /metrics."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import redis

from rtad.common.local_redis import LocalRedis
from rtad.common.streams import StreamNames
from rtad.scorer.api.app import create_app
from rtad.scorer.model_holder import ModelHolder
from tests.integration.scorer.helpers import live_server, settings_for, wait_until
from tests.unit.scorer.support import publish

pytestmark = pytest.mark.redis

API_KEY = "live-key"


@pytest.fixture
def live_url(redis_server: LocalRedis, model_dir: Path) -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of a uvicorn server (in a thread) running the app."""
    settings = settings_for(redis_server.url, model_dir, api_key=API_KEY)
    app = create_app(settings, ModelHolder(model_dir))
    with live_server(app) as url:
        yield url


def test_alerts_arrive_as_server_sent_events(
    live_url: str, redis_client: redis.Redis, names: StreamNames, scorer_rows: list[dict]
) -> None:
    received: list[dict] = []
    with httpx.Client(base_url=live_url, timeout=30) as http:
        with http.stream("GET", "/v1/alerts/stream") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            publish(redis_client, names, scorer_rows[:1500])
            event = None
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event == "alert":
                    received.append(orjson.loads(line.split(":", 1)[1]))
                    if len(received) == 3:
                        break
        resumed = http.get("/v1/alerts/stream", headers={"Last-Event-ID": "garbage"})
    assert all(a["is_anomaly"] and a["reasons"] and "cursor" in a for a in received)
    assert resumed.status_code == 422


@pytest.mark.k8s  # needs promtool (Debian package prometheus)
def test_metrics_pass_promtool_check_metrics(
    live_url: str, redis_client: redis.Redis, names: StreamNames, scorer_rows: list[dict]
) -> None:
    publish(redis_client, names, scorer_rows[:1000])
    with httpx.Client(base_url=live_url, timeout=30) as http:
        wait_until(lambda: http.get("/v1/stats").json()["totals"]["scored"] == 1000)
        # drift gauges are exported by the worker's periodic maintenance
        wait_until(lambda: 'rtad_scorer_drift_psi{feature="score"}' in http.get("/metrics").text)
        verdict = {"transaction_id": "t1", "user_id": "u1", "verdict": "fraud", "source": "analyst"}
        labels = http.post("/v1/labels", json={"labels": [verdict]}, headers={"X-API-Key": API_KEY})
        assert labels.status_code == 202
        text = http.get("/metrics").text
    for name in (
        'rtad_scorer_labels_received_total{source="analyst",verdict="fraud"}',
        "rtad_scorer_transactions_scored_total",
        "rtad_scorer_batch_seconds_bucket",
        "rtad_scorer_end_to_end_latency_seconds_bucket",
        "rtad_scorer_model_info",
        "rtad_scorer_labelled_total",
        "rtad_scorer_anomalies_total",
        'rtad_scorer_drift_psi{feature="amount_ratio_log"}',
        'rtad_scorer_consumer_lag_entries{shard="0"}',
    ):
        assert name in text, name
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: apt-get install prometheus (make prereqs with e2e tools)"
    check = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30
    )
    assert check.returncode == 0, (check.stdout + check.stderr).decode()
