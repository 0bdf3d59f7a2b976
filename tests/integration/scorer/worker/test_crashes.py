"""Crashes and stops of real worker processes: SIGKILL mid-batch, SIGTERM after the batches
in hand."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from rtad.common.local_redis import LocalRedis, free_port
from rtad.common.streams import StreamNames
from tests.integration.scorer.helpers import make_worker, step_until
from tests.unit.scorer.support import pending_total, publish, read_stream

pytestmark = [pytest.mark.redis, pytest.mark.e2e]

RTAD = str(Path(sys.executable).parent / "rtad")
WORKER = [sys.executable, "-m", "rtad.scorer.worker"]

Spawn = Callable[[list[str], dict[str, str]], subprocess.Popen[bytes]]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start a process (stderr kept for its log); the test's processes are killed after it."""
    started: list[subprocess.Popen[bytes]] = []

    def start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _env(url: str, model_dir: Path, marker: Path, fault: str) -> dict[str, str]:
    return os.environ | {
        "RTAD_REDIS_URL": url,
        "RTAD_MODEL_PATH": str(model_dir),
        "RTAD_BATCH_COUNT": "100",
        "RTAD_FAULT_INJECTION": fault,
        "RTAD_FAULT_MARKER": str(marker),
    }


def _wait_for(marker: Path, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited"
        assert time.monotonic() < deadline, "the fault point was never reached"
        time.sleep(0.05)


def test_sigkill_between_read_and_exec_loses_and_doubles_nothing(
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    model_dir: Path,
    scorer_rows: list[dict],
    tmp_path: Path,
    spawn: Spawn,
) -> None:
    publish(redis_client, names, scorer_rows)
    marker = tmp_path / "paused"
    proc = spawn(WORKER, _env(redis_server.url, model_dir, marker, "pause_before_commit@2:120"))
    _wait_for(marker, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    in_flight = pending_total(redis_client, names)
    committed = len(read_stream(redis_client, names, "scores"))
    assert in_flight > 0  # batch 2 (at least) was read and never committed
    successor = make_worker(redis_server.url, model_dir, claim_idle_ms=1000)
    step_until(successor, lambda: committed + successor.scored == len(scorer_rows))
    ids = [s["transaction_id"] for s in read_stream(redis_client, names, "scores")]
    assert len(ids) == len(set(ids)) == len(scorer_rows)
    assert pending_total(redis_client, names) == 0


@pytest.mark.parametrize("entrypoint", ["rtad serve", "python -m rtad.scorer.worker"])
def test_sigterm_finishes_and_acknowledges_what_it_was_delivered_then_exits(
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    model_dir: Path,
    scorer_rows: list[dict],
    tmp_path: Path,
    spawn: Spawn,
    entrypoint: str,
) -> None:
    publish(redis_client, names, scorer_rows)
    marker = tmp_path / "paused"
    command = WORKER
    if entrypoint == "rtad serve":
        port = str(free_port())
        command = [RTAD, "serve", "--model", str(model_dir), "--port", port, "--host", "127.0.0.1"]
    proc = spawn(command, _env(redis_server.url, model_dir, marker, "pause_before_commit@2:2"))
    _wait_for(marker, proc)
    in_flight = pending_total(redis_client, names)
    assert in_flight > 0
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    log = err.decode()
    # uvicorn re-raises the SIGTERM it caught once the shutdown is complete
    assert proc.returncode in (0, -signal.SIGTERM), log[-2000:]
    # batch 2 was in hand (paused before its commit), batch 3 already read ahead: both are
    # scored and acknowledged, and nothing more is read
    assert "Traceback" not in log and "stopped after 3 batches" in log, log[-2000:]
    assert pending_total(redis_client, names) == 0  # nothing delivered is left pending
    scores = read_stream(redis_client, names, "scores")
    assert len(scores) == len({s["transaction_id"] for s in scores}) > 0
    unread = sum(g["lag"] for k in names.all("features") for g in redis_client.xinfo_groups(k))
    assert unread == len(scorer_rows) - len(scores) > 0  # it stopped instead of draining


def test_a_worker_stalled_past_the_claim_idle_time_commits_nothing_twice(
    redis_server: LocalRedis,
    redis_client: redis.Redis,
    names: StreamNames,
    model_dir: Path,
    scorer_rows: list[dict],
    tmp_path: Path,
    spawn: Spawn,
) -> None:
    """Two worker processes: the first stalls after scoring its first batch, longer than the
    claim idle time; the second claims that batch (and the one read ahead) and commits it.
    When the first wakes, its commit scripts find the entries owned by the other consumer and
    write nothing: every transaction is scored exactly once."""
    publish(redis_client, names, scorer_rows)
    marker = tmp_path / "paused"
    claim = {"RTAD_CLAIM_IDLE_MS": "1000", "RTAD_CLAIM_INTERVAL_S": "0.2"}

    def start(consumer: str, fault: str) -> subprocess.Popen[bytes]:
        env = _env(redis_server.url, model_dir, marker, fault) | claim
        return spawn(WORKER, env | {"RTAD_CONSUMER_NAME": consumer})

    stall_s = 8.0
    stalled = start("stalled", f"pause_before_commit@1:{stall_s}")
    _wait_for(marker, stalled)
    woke_at = time.monotonic() + stall_s
    held = _pending_of(redis_client, names, "stalled")
    assert held > 0  # its first batch and the one read ahead
    successor = start("successor", "")
    deadline = time.monotonic() + 90
    while pending_total(redis_client, names) or len(
        read_stream(redis_client, names, "scores")
    ) < len(scorer_rows):
        assert successor.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    while time.monotonic() < woke_at + 3:  # the stalled worker wakes and tries its commits
        assert stalled.poll() is None
        time.sleep(0.1)
    for proc in (stalled, successor):
        proc.send_signal(signal.SIGTERM)
    stalled_log = stalled.communicate(timeout=60)[1].decode()
    successor.communicate(timeout=60)
    ids = [s["transaction_id"] for s in read_stream(redis_client, names, "scores")]
    assert len(ids) == len(set(ids)) == len(scorer_rows)
    assert "claimed by another consumer" in stalled_log, stalled_log[-2000:]
    assert "Traceback" not in stalled_log
    assert pending_total(redis_client, names) == 0


def _pending_of(client: redis.Redis, names: StreamNames, consumer: str) -> int:
    return sum(
        len(client.xpending_range(key, "scorer", "-", "+", 100_000, consumername=consumer))
        for key in names.all("features")
    )
