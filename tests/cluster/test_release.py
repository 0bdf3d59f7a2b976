"""The chart on a real cluster: rollout, executors scaled through the API, ``helm test``.

Run by ``make test-cluster`` against the current kube context (kind or minikube); the
container test (tests/containers/) checks the same workloads where there is no cluster.
"""

from __future__ import annotations

import os

import pytest
import yaml

from tests.cluster.kube import (
    CHART,
    LAPTOP_VALUES,
    Release,
    helm,
    master_status,
    not_rolled_out,
    scale_statefulset,
    wait_for,
)

pytestmark = pytest.mark.cluster

TIMEOUT_S = float(os.environ.get("RTAD_CLUSTER_TIMEOUT", "900"))
DEFAULTS = yaml.safe_load((CHART / "values.yaml").read_text())["spark"]
WORKERS = int(yaml.safe_load(LAPTOP_VALUES.read_text())["spark"]["worker"]["replicas"])
#: One executor per worker takes all its cores (spark.worker.cores).
CORES_PER_EXECUTOR = int(DEFAULTS["worker"]["cores"])
MASTER_UI_PORT = int(DEFAULTS["master"]["webUiPort"])


def _executors(release: Release) -> int:
    selector = f"app.kubernetes.io/instance={release.name},"
    selector += "app.kubernetes.io/component=spark-master"
    status = master_status(release.namespace, selector, ui_port=MASTER_UI_PORT)
    return status.executors(CORES_PER_EXECUTOR)


def test_every_workload_rolls_out(release: Release) -> None:
    pending: list[str] = []

    def rolled_out() -> bool:
        pending[:] = not_rolled_out(release.namespace, release.name)
        return not pending

    wait_for(rolled_out, TIMEOUT_S, f"the rollout (still pending: {pending})")


def test_scaling_the_worker_statefulset_changes_the_jobs_executors(release: Release) -> None:
    worker = f"{release.name}-spark-worker"
    wait_for(lambda: _executors(release) == WORKERS, TIMEOUT_S, f"{WORKERS} executors")
    scale_statefulset(release.namespace, worker, WORKERS + 1)
    wait_for(lambda: _executors(release) == WORKERS + 1, TIMEOUT_S, "one executor more")
    scale_statefulset(release.namespace, worker, WORKERS)
    wait_for(lambda: _executors(release) == WORKERS, TIMEOUT_S, "back to the first executors")


def test_helm_test_passes(release: Release) -> None:
    out = helm("test", release.name, "--namespace", release.namespace, "--timeout", "5m")
    assert f"{release.name}-test-readyz" in out and "Succeeded" in out, out
