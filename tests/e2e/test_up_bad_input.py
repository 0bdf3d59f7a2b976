"""``rtad up`` with something missing or busy: one clear line, non-zero exit, nothing started."""

from __future__ import annotations

import shutil
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rtad.common.local_redis import free_port
from tests.e2e.conftest import UpRun, finished

pytestmark = pytest.mark.e2e


def only_tools(tmp_path: Path, *names: str) -> str:
    """A PATH holding only the named tools (and this Python), as on a machine without the rest."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in (*names, "python3"):
        found = shutil.which(name) if name != "python3" else sys.executable
        assert found, f"{name} must be installed for this test"
        (bin_dir / name).symlink_to(found)
    return str(bin_dir)


def assert_refused(run: UpRun, *expected: str) -> None:
    code = finished(run, timeout=60)
    lines = run.err.strip().splitlines()
    assert code != 0
    assert len(lines) == 1, run.err
    assert "Traceback" not in run.err + run.out
    for text in expected:
        assert text in lines[0]
    assert not (run.run_dir / "logs").exists(), "nothing may start before the checks pass"
    assert run.leftovers() == []


def test_port_in_use(up_factory: Callable[..., UpRun]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = up_factory("--port", str(port), "--no-prometheus")
        assert_refused(run, f"port {port} is already in use", "--port")


def test_missing_redis_server(up_factory: Callable[..., UpRun], tmp_path: Path) -> None:
    path = only_tools(tmp_path, "java")
    run = up_factory("--port", str(free_port()), env={"PATH": path, "JAVA_HOME": ""})
    assert_refused(run, "redis-server not found", "sudo apt-get install -y redis-server")


def test_missing_java(up_factory: Callable[..., UpRun], tmp_path: Path) -> None:
    path = only_tools(tmp_path, "redis-server")
    run = up_factory("--port", str(free_port()), env={"PATH": path, "JAVA_HOME": ""})
    assert_refused(run, "java not found", "sudo apt-get install -y openjdk-17-jre-headless")


def test_unreachable_external_redis(up_factory: Callable[..., UpRun]) -> None:
    url = f"redis://:secret@127.0.0.1:{free_port()}/0"
    run = up_factory("--port", str(free_port()), env={"RTAD_REDIS_URL": url})
    assert_refused(run, "127.0.0.1")
    assert "secret" not in run.err, "the password is never printed"
