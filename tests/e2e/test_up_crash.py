"""A part of ``rtad up`` dies: it is named with its exit and log, the rest stops, exit non-zero."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest

from rtad.common.local_redis import free_port
from tests.e2e.conftest import UpRun, finished

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_killed_child_is_reported_and_the_rest_stopped(up_factory: Callable[..., UpRun]) -> None:
    run = up_factory("--port", str(free_port()), "--no-prometheus", "--duration", "120")
    run.wait_for_line(r"^generator: first transactions", timeout=60)
    generator = next(
        p
        for p in run.remember_processes()
        if "generate" in p.cmdline() and "rtad.cli.main" in p.cmdline()
    )
    generator.send_signal(signal.SIGKILL)
    code = finished(run, timeout=40)
    assert code == 1
    last = run.err.strip().splitlines()[-1]
    assert last.startswith("rtad: error: generator was killed by signal 9")
    assert str(run.run_dir / "logs" / "generator.log") in last
    assert "last lines of" in run.err
    assert "Traceback" not in run.err
    assert run.leftovers() == []
