"""The checks ``rtad up`` makes before starting anything, on this machine's real tools."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from rtad.cli import preflight
from rtad.cli.preflight import PreflightError
from rtad.common.local_redis import free_port


def test_a_free_port_passes() -> None:
    preflight.check_port_free(free_port())


def test_a_busy_port_is_one_line_naming_the_option() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(PreflightError, match=rf"^port {port} is already in use: .* --port$"):
            preflight.check_port_free(port)


def test_java_here_is_recent_enough() -> None:
    binary = preflight.java_binary()
    assert binary is not None
    assert (preflight.java_major(binary) or 0) >= preflight.MIN_JAVA
    preflight.check_java()


def test_java_home_wins_over_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert preflight.java_binary() is None
    with pytest.raises(PreflightError, match="java not found.*openjdk-17-jre-headless"):
        preflight.check_java()


def test_unreadable_java_version(tmp_path: Path) -> None:
    assert preflight.java_major(str(tmp_path / "no-such-java")) is None


def test_missing_redis_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PreflightError, match="redis-server not found.*apt-get install -y redis"):
        preflight.check_redis(None)


def test_external_redis_needs_no_local_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(PreflightError, match="cannot reach Redis .* RTAD_REDIS_URL"):
        preflight.check_redis(url)


def test_model_given_or_the_scorer_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert preflight.check_model(tmp_path) == tmp_path.resolve()
    with pytest.raises(PreflightError, match="no model at .*nope: train one with `rtad train"):
        preflight.check_model(tmp_path / "nope")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RTAD_MODEL_PATH", raising=False)
    with pytest.raises(PreflightError, match="no model at models/champion"):
        preflight.check_model(None)
    (tmp_path / "models" / "champion").mkdir(parents=True)
    assert preflight.check_model(None) == (tmp_path / "models" / "champion").resolve()


def test_prometheus_is_optional(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert preflight.find_prometheus(False) is None
    monkeypatch.setenv("PATH", str(tmp_path))
    assert preflight.find_prometheus(True) is None
