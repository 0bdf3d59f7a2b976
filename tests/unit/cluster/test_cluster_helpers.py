"""The cluster test's pure parts: the Spark master's status, and the no-cluster message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.spark_master import APP_NAME, MasterStatus, parse_master_status

ROOT = Path(__file__).resolve().parents[3]


def _worker(state: str, cores_used: int) -> dict[str, Any]:
    return {"id": "w", "state": state, "cores": 1, "coresused": cores_used, "coresfree": 0}


def _app(name: str, cores: int, state: str = "RUNNING", start: int = 1) -> dict[str, Any]:
    return {"id": f"app-{start}", "name": name, "cores": cores, "state": state, "starttime": start}


def test_the_jobs_executors_are_its_granted_cores_over_an_executors_cores() -> None:
    payload = {
        "workers": [_worker("ALIVE", 1), _worker("ALIVE", 1), _worker("DEAD", 0)],
        "activeapps": [_app("other", 4), _app(APP_NAME, 2)],
    }
    status = parse_master_status(payload)
    assert status == MasterStatus(alive_workers=2, app_state="RUNNING", app_cores=2)
    assert status.executors(cores_per_executor=1) == 2
    assert status.executors(cores_per_executor=2) == 1


def test_after_a_driver_restart_the_newest_application_counts() -> None:
    apps = [_app(APP_NAME, 3, start=100), _app(APP_NAME, 1, state="WAITING", start=200)]
    status = parse_master_status({"workers": [], "activeapps": apps})
    assert status.app_state == "WAITING" and status.executors(1) == 0


@pytest.mark.parametrize("payload", [{}, {"workers": None, "activeapps": None}])
def test_a_master_without_the_job_has_no_executors(payload: dict[str, Any]) -> None:
    status = parse_master_status(payload)
    assert status == MasterStatus(alive_workers=0, app_state=None, app_cores=0)
    assert status.executors(1) == 0


def test_an_executor_size_below_one_core_is_refused() -> None:
    with pytest.raises(ValueError, match="cores_per_executor"):
        MasterStatus(1, "RUNNING", 1).executors(0)


@pytest.mark.parametrize("kubeconfig", ["missing", "unreachable"])
def test_without_a_cluster_one_line_says_so_and_the_exit_is_non_zero(
    kubeconfig: str, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    if kubeconfig == "unreachable":  # a context whose API server refuses connections
        config.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: kind-rtad\n"
            "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
            "users: [{name: u, user: {token: t}}]\n"
            "contexts: [{name: kind-rtad, context: {cluster: c, user: u}}]\n"
        )
    env = {**os.environ, "KUBECONFIG": str(config), "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.cluster.context"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1
    (line,) = proc.stderr.splitlines()
    assert line.startswith("no Kubernetes context: ") and "kind create cluster" in line
    if kubeconfig == "unreachable":
        assert "kind-rtad does not answer" in line


def test_make_test_never_collects_the_cluster_test() -> None:
    env = {k: v for k, v in os.environ.items() if k != "RTAD_CLUSTER_TEST"}
    args = [sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/cluster"]
    proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert "test_release.py" not in proc.stdout
    assert "no tests collected" in proc.stdout or "no tests ran" in proc.stdout, proc.stdout
