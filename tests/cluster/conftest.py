"""The cluster test: collected only by ``make test-cluster`` (RTAD_CLUSTER_TEST=1).

It installs the chart into a namespace of its own on the current kube context and removes it
afterwards. Images: the chart's defaults (``rtad-<service>:<appVersion>``) must be loadable
by the cluster (``make images`` then ``kind load docker-image …``); RTAD_CLUSTER_VALUES names
extra values files (separated by ``:``), e.g. for a registry and tags of your own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.cluster.context import NoContext, current_context
from tests.cluster.kube import CHART, LAPTOP_VALUES, Release, helm

if not os.environ.get("RTAD_CLUSTER_TEST"):
    # `make test` / `pytest tests` never touch a cluster; `make test-cluster` sets the variable.
    collect_ignore_glob = ["test_*.py"]

RELEASE = "rtad"
POD_SECURITY = {f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "warn")}


@pytest.fixture(scope="session")
def kube_context() -> str:
    try:
        return current_context()
    except NoContext as exc:
        pytest.exit(str(exc), returncode=1)


@pytest.fixture(scope="module")
def release(kube_context: str) -> Iterator[Release]:
    """``helm install`` with the laptop values into a fresh namespace (Pod Security
    "restricted"), uninstalled and deleted afterwards."""
    namespace = f"rtad-test-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api()
    core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace, labels=POD_SECURITY))
    )
    extra = [Path(p) for p in os.environ.get("RTAD_CLUSTER_VALUES", "").split(":") if p]
    values = [arg for path in (LAPTOP_VALUES, *extra) for arg in ("--values", str(path))]
    try:
        helm("install", RELEASE, CHART, "--namespace", namespace, *values)
        yield Release(RELEASE, namespace)
    finally:
        helm("uninstall", RELEASE, "--namespace", namespace, "--wait", "--ignore-not-found")
        core.delete_namespace(namespace)
