"""``rtad up``'s private Redis outlives a terminal Ctrl-C, and stops when ``rtad up`` is done."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import pytest
import redis

from rtad.cli.up import _redis
from rtad.common.stopping import stop_on_signals

pytestmark = pytest.mark.redis


def test_private_redis_ignores_the_terminal_sigint(tmp_path: Path) -> None:
    with _redis(None, tmp_path) as url:
        client = redis.Redis.from_url(url)
        server = next(p for p in psutil.Process().children() if p.name() == "redis-server")
        # A Ctrl-C at a terminal reaches the whole foreground group, Redis included.
        server.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert client.ping()
        client.close()
    assert not server.is_running() or server.status() == psutil.STATUS_ZOMBIE
    assert (tmp_path / "redis" / "redis.log").exists()


def test_external_redis_is_used_as_given(tmp_path: Path) -> None:
    with _redis("redis://example:6379/0", tmp_path) as url:
        assert url == "redis://example:6379/0"
    assert not (tmp_path / "redis").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signals_set_the_stop_event(sig: signal.Signals) -> None:
    before = signal.getsignal(sig)
    with stop_on_signals() as stop:
        os.kill(os.getpid(), sig)
        assert stop.wait(2)
    assert signal.getsignal(sig) == before
