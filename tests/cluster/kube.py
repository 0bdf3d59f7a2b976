"""The few cluster operations the test needs, through the ``kubernetes`` client (and helm)."""

from __future__ import annotations

import http.client
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.stream import portforward

from tests.cluster.spark_master import MasterStatus, parse_master_status

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "rtad"
LAPTOP_VALUES = ROOT / "k8s" / "values" / "rtad-laptop.yaml"


@dataclass(frozen=True)
class Release:
    """The chart installed by the test."""

    name: str
    namespace: str


def helm(*args: str | Path, timeout_s: float = 900) -> str:
    """Run ``.tools/helm``; a failure shows its output."""
    command = [str(ROOT / ".tools" / "helm"), *map(str, args)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    assert proc.returncode == 0, f"{' '.join(command)}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``condition`` every 2 s until it holds; fail naming ``what`` after the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(2)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def not_rolled_out(namespace: str, instance: str) -> list[str]:
    """The release's Deployments and StatefulSets whose pods are not all updated and ready."""
    apps = client.AppsV1Api()
    selector = f"app.kubernetes.io/instance={instance}"
    workloads: list[Any] = [
        *apps.list_namespaced_deployment(namespace, label_selector=selector).items,
        *apps.list_namespaced_stateful_set(namespace, label_selector=selector).items,
    ]
    pending = []
    for workload in workloads:
        status, wanted = workload.status, workload.spec.replicas or 0
        observed = (status.observed_generation or 0) >= (workload.metadata.generation or 0)
        ready, updated = status.ready_replicas or 0, status.updated_replicas or 0
        if not (observed and ready == wanted and updated == wanted):
            pending.append(f"{type(workload).__name__.removeprefix('V1')} {workload.metadata.name}")
    return pending


def scale_statefulset(namespace: str, name: str, replicas: int) -> None:
    """What ``kubectl scale statefulset NAME --replicas=N`` does: patch the scale subresource."""
    body = {"spec": {"replicas": replicas}}
    client.AppsV1Api().patch_namespaced_stateful_set_scale(name, namespace, body)


def master_status(namespace: str, master_selector: str, ui_port: int) -> MasterStatus:
    """The Spark master's ``/json/``, through a port-forward to its pod (inside the pod, so
    the release's NetworkPolicies do not apply, as with ``kubectl port-forward``)."""
    core = client.CoreV1Api()
    pods: list[Any] = core.list_namespaced_pod(namespace, label_selector=master_selector).items
    running = [p for p in pods if p.status.phase == "Running"]
    assert running, f"no running Spark master pod ({master_selector})"
    forward = portforward(
        core.connect_get_namespaced_pod_portforward,
        running[0].metadata.name,
        namespace,
        ports=str(ui_port),
    )
    connection = http.client.HTTPConnection("localhost", ui_port, timeout=10)
    connection.sock = forward.socket(ui_port)
    try:
        connection.request("GET", "/json/")
        response = connection.getresponse()
        payload = json.loads(response.read()) if response.status == 200 else {}
    finally:
        connection.close()
        forward.close()
    return parse_master_status(payload)
