"""``rtad up`` end to end for about a minute: scores flow, fraud raises alerts, the live page
shows live figures in a real Chromium, every Grafana query has data in the real Prometheus,
and a Ctrl-C stops everything in order with nothing left behind.

The tests of this module share one run and go in file order; the last one stops it.
"""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import redis

from rtad.cli.pipeline_watch import entries_added
from rtad.common.encoding import decode
from rtad.common.local_redis import free_port
from rtad.common.streams import StreamNames
from tests.e2e.browser import open_page
from tests.e2e.conftest import UpRun, finished, launch_up
from tests.e2e.dashboards import dashboard_queries, query_has_data

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RATE = 500
NAMES = StreamNames(shards=4)
STOP_ORDER = ["generator", "stream", "scorer", "prometheus", "redis"]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpRun]:
    run_dir = tmp_path_factory.mktemp("up") / "run"
    # --duration is only a safety net: the last test stops the run with a Ctrl-C.
    args = ["--port", str(free_port()), "--rate", str(RATE), "--duration", "300"]
    run = launch_up(args, run_dir)
    try:
        run.wait_for_line(r"^ready: scores are flowing", timeout=180)
        yield run
    finally:
        if run.process.poll() is None or run.leftovers():
            run.kill_everything()


@pytest.fixture(scope="module")
def client(pipeline: UpRun) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(pipeline.urls()["redis"]) as conn:
        yield conn


def latest(client: redis.Redis, kind: str, count: int = 200) -> list[dict]:
    rows = []
    for key in NAMES.all(kind):
        rows += [decode(fields) for _, fields in client.xrevrange(key, count=count)]  # type: ignore[union-attr]
    return rows


def test_urls_are_printed_and_metrics_answer(pipeline: UpRun) -> None:
    urls = pipeline.urls()
    for label in ("live page", "API docs", "prometheus", "Spark UI", "redis", "logs"):
        assert label in urls, pipeline.out
    for label, prefix in (
        ("generator metrics", "rtad_generator_"),
        ("stream metrics", "rtad_stream_"),
        ("scorer metrics", "rtad_scorer_"),
    ):
        response = httpx.get(urls[label], timeout=10)
        assert response.status_code == 200
        assert prefix in response.text
    for label in ("API docs", "live page", "Spark UI", "prometheus"):
        assert httpx.get(urls[label], timeout=10, follow_redirects=True).status_code == 200, label
    assert Path(urls["logs"], "stream.log").exists()


def test_scores_flow(client: redis.Redis) -> None:
    # Scores come a micro-batch at a time: wait for the next batch, not a fixed delay.
    before = entries_added(client, NAMES, "scores")
    deadline = time.monotonic() + 60
    while entries_added(client, NAMES, "scores") == before and time.monotonic() < deadline:
        time.sleep(1)
    assert entries_added(client, NAMES, "scores") > before, "no new score for 60 s"
    scores = latest(client, "scores")
    assert len(scores) >= 100
    for score in scores:
        assert isinstance(score["score"], float)
        assert isinstance(score["is_anomaly"], bool)
        assert score["model_version"]
        assert score["ingest_ms"] <= score["scored_ms"]
        assert score["is_anomaly"] == (score["score"] >= score["threshold"])


def test_alerts_for_injected_fraud(client: redis.Redis) -> None:
    deadline = time.monotonic() + 60
    while True:
        alerts = latest(client, "alerts", count=1000)
        fraud = [a for a in alerts if a.get("is_fraud")]
        if fraud or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert fraud, f"no alert on a labelled fraud among {len(alerts)} alerts"
    for alert in alerts:
        assert alert["is_anomaly"] is True
        assert alert["reasons"], alert
        assert all(reason["code"] and reason["text"] for reason in alert["reasons"])
    assert {a["fraud_scenario"] for a in fraud} <= {
        "card_testing",
        "account_takeover",
        "impossible_travel",
        "amount_spike",
        "compromised_merchant",
        "atm_cashout",
    }


def test_a_broken_feature_entry_is_dead_lettered(client: redis.Redis) -> None:
    # Written straight into the scorer's input: it must neither stop scoring nor vanish.
    payload = b'{"transaction_id": "broken-1", "features": "not a mapping"'
    client.xadd(NAMES.key("features", 0), {b"v": b"2", b"d": payload})
    deadline = time.monotonic() + 60
    found: list[dict[bytes, bytes]] = []
    while not found and time.monotonic() < deadline:
        entries = client.xrange(NAMES.key("deadletter", 0))
        found = [fields for _, fields in entries if fields.get(b"payload") == payload]
        time.sleep(1)
    assert found, "the broken entry was not dead-lettered"
    assert found[0][b"reason"] and found[0][b"stage"] == b"scorer"


def figure(name: str) -> str:
    return f"document.querySelector('[data-figure=\"{name}\"]').textContent"


def number(text: str) -> float:
    return float(text.replace(",", "")) if text not in ("", "–") else math.nan


def test_live_page_shows_live_figures(pipeline: UpRun, tmp_path: Path) -> None:
    with open_page(pipeline.urls()["live page"], tmp_path) as page:
        page.wait_until("document.querySelector('#status').textContent === 'live'", 30)
        page.wait_until("document.querySelectorAll('#alerts tr.alert').length >= 3", 45)
        page.wait_until("document.querySelectorAll('#scenarios tr.scenario').length >= 1", 30)
        page.wait_until("window.rtadLive && window.rtadLive.points() >= 3", 30)
        first = number(page.evaluate(figure("scored-total")))
        assert first > 0
        total = f"parseFloat({figure('scored-total')}.replaceAll(',', ''))"
        page.wait_until(f"{total} > {first}", 45)  # grows with the next micro-batch
        for name in ("tx-rate", "features-rate", "scored-rate", "latency-p99"):
            # rates move a micro-batch at a time: wait for one within the rate window
            page.wait_until(f"parseFloat({figure(name)}.replaceAll(',', '')) > 0", 45)
        assert 0 <= number(page.evaluate(figure("anomaly-rate"))) < 100
        items = "document.querySelectorAll('#alerts tr.alert .reasons li')"
        reasons = page.evaluate(f"[...{items}].map(li => li.textContent)")
        assert reasons and all(len(text) > 5 for text in reasons)
        assert page.evaluate("document.querySelectorAll('.chart canvas').length") >= 2
        shot = page.screenshot(tmp_path / "live-page.png")
        assert page.errors == [], "uncaught JavaScript errors"
    assert shot.stat().st_size > 20_000


def test_every_dashboard_query_has_data(pipeline: UpRun, repo_root: Path) -> None:
    queries = dashboard_queries(repo_root / "charts" / "rtad" / "dashboards")
    assert len(queries) >= 10
    prometheus = pipeline.urls()["prometheus"]
    deadline = time.monotonic() + 45
    while True:
        empty = [(title, q) for title, q in queries if not query_has_data(prometheus, q)]
        if not empty or time.monotonic() > deadline:
            break
        time.sleep(4)
    assert not empty, "queries without data:\n" + "\n".join(f"{t}: {q}" for t, q in empty)


COMMANDS = {"generator": "generate", "stream": "stream", "scorer": "serve"}


def process_of(run: UpRun, name: str) -> psutil.Process:
    """The process of one part, found among ``rtad up``'s children by its command line."""
    for proc in run.remember_processes():
        argv = proc.cmdline()
        if name in ("redis", "prometheus") and proc.name().startswith(name):
            return proc
        if name in COMMANDS and "rtad.cli.main" in argv and COMMANDS[name] in argv:
            return proc
    raise AssertionError(f"no {name} process under rtad up")


def is_gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_ctrl_c_stops_everything_in_order(pipeline: UpRun) -> None:
    procs = {name: process_of(pipeline, name) for name in STOP_ORDER}
    gone_at: dict[str, float] = {}
    started = time.monotonic()
    # A Ctrl-C at a terminal signals the whole foreground process group.
    os.killpg(pipeline.process.pid, signal.SIGINT)
    while len(gone_at) < len(procs) and time.monotonic() - started < 40:
        for name, proc in procs.items():
            if name not in gone_at and is_gone(proc):
                gone_at[name] = time.monotonic() - started
        time.sleep(0.05)
    code = finished(pipeline, timeout=40)
    took = time.monotonic() - started
    assert code == 0, pipeline.err
    assert took < 30, f"stopping took {took:.1f}s"
    assert sorted(gone_at, key=gone_at.__getitem__) == STOP_ORDER, gone_at
    assert pipeline.leftovers() == []
    assert "stopped; logs in" in pipeline.out
