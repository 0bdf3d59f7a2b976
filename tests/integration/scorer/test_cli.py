"""``rtad serve`` failures: one clear line and exit 1, or a patient wait on a bad password."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from rtad.common.local_redis import LocalRedis, free_port

pytestmark = pytest.mark.redis

RTAD = str(Path(sys.executable).parent / "rtad")


def _serve(
    args: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [RTAD, "serve", *args], env=os.environ | env, capture_output=True, timeout=timeout
    )


def _one_line(stderr: bytes) -> str:
    lines = [ln for ln in stderr.decode().splitlines() if "error" in ln.lower()]
    assert "Traceback" not in stderr.decode()
    assert len(lines) == 1, stderr.decode()
    return lines[0]


def test_a_missing_model_is_one_line_and_exit_1(redis_server: LocalRedis, tmp_path: Path) -> None:
    done = _serve(["--model", str(tmp_path / "nope")], {"RTAD_REDIS_URL": redis_server.url})
    assert done.returncode == 1
    assert _one_line(done.stderr).startswith("rtad: error: no model at")


def test_a_foreign_model_is_one_line_and_exit_1(redis_server: LocalRedis, tmp_path: Path) -> None:
    (tmp_path / "model_card.json").write_text('{"format": "something else"}')
    done = _serve(["--model", str(tmp_path)], {"RTAD_REDIS_URL": redis_server.url})
    assert done.returncode == 1 and "not an rtad model card" in _one_line(done.stderr)


def test_a_challenger_on_other_features_is_one_line_and_exit_1(
    redis_server: LocalRedis, model_dir: Path, tmp_path: Path
) -> None:
    other = tmp_path / "challenger"
    shutil.copytree(model_dir, other)
    card = json.loads((other / "model_card.json").read_text())
    card["feature_names"][0] = "not_in_the_stream"
    (other / "model_card.json").write_text(json.dumps(card))
    env = {"RTAD_REDIS_URL": redis_server.url, "RTAD_CHALLENGER_PATH": str(other)}
    done = _serve(["--model", str(model_dir)], env)
    assert done.returncode == 1
    line = _one_line(done.stderr)
    assert "feature set differs from the stream's" in line and "not_in_the_stream" in line


def test_an_unreachable_redis_is_one_line_and_exit_1(model_dir: Path) -> None:
    env = {"RTAD_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "RTAD_REDIS_ATTEMPTS": "1"}
    done = _serve(["--model", str(model_dir)], env)
    assert done.returncode == 1
    assert "cannot reach Redis" in _one_line(done.stderr)


def test_a_wrong_password_keeps_serving_unready_and_retries(redis_factory, model_dir: Path) -> None:
    server = redis_factory(password="right")
    wrong = server.url.replace(":right@", ":wrong@")
    port = free_port()
    proc = subprocess.Popen(
        [RTAD, "serve", "--model", str(model_dir), "--port", str(port), "--host", "127.0.0.1"],
        env=os.environ | {"RTAD_REDIS_URL": wrong},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        ready = _wait_for_answer(f"http://127.0.0.1:{port}/readyz", proc)
        assert ready.status_code == 503 and "refused the credentials" in ready.json()["detail"]
        assert "wrong" not in ready.json()["detail"]  # the password is masked
        time.sleep(4)  # first attempt, then retries after 1 s and 2 s
        assert proc.poll() is None  # no crash loop: still up
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    log = err.decode()
    assert "Traceback" not in log and log.count("retrying in") >= 2, log[-1500:]


def _wait_for_answer(url: str, proc: subprocess.Popen, timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            assert time.monotonic() < deadline
            time.sleep(0.1)
