"""Real helm v4 / kubectl 1.35 (extracted from their PyPI package into .tools/) and the chart.

Shared by the chart tests here and the promtool tests in tests/integration/k8s.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "rtad"
TOOLS = ROOT / ".tools"
KUBE_VERSION = "1.35.0"
RELEASE = "rtad"
NAMESPACE = "rtad"

#: Values sets every check runs over (name -> overrides of values.yaml).
VALUES_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "keda-off": {"scorer": {"autoscaling": {"keda": {"enabled": False}}}},
    "monitoring-off": {"monitoring": {"enabled": False}},
    "external-redis": {
        "redis": {"enabled": False},
        "externalRedis": {
            "existingSecret": "rtad-redis-external",
            "address": "redis.example.internal:6379",
        },
    },
    # What skaffold's kind/minikube profiles install: k8s/values/rtad-laptop.yaml + storage.
    "laptop": {
        **yaml.safe_load((ROOT / "k8s" / "values" / "rtad-laptop.yaml").read_text()),
        "redis": {"persistence": {"size": "1Gi", "storageClass": "standard"}},
    },
    "static-minimal": {
        "generator": {"enabled": False},
        "streaming": {"enabled": False},
        "scorer": {"autoscaling": {"keda": {"enabled": False}, "hpa": {"enabled": False}}},
        "networkPolicy": {"enabled": False},
        "tests": {"enabled": False},
        "pipeline": {"shards": 2},
    },
}

#: The optional APIs the chart renders objects for when the cluster serves them.
MONITORING_API = "monitoring.coreos.com/v1"
KEDA_API = "keda.sh/v1alpha1"
#: What k8s/install-prereqs.sh sets up (kube-prometheus-stack and KEDA): the default here.
FULL_CLUSTER = (MONITORING_API, KEDA_API)
#: A cluster with neither.
BARE_CLUSTER: tuple[str, ...] = ()

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"}
CRD_GROUPS = {"monitoring.coreos.com", "keda.sh"}


def tool(name: str) -> Path:
    """``.tools/<name>``, extracted from the aws-cdk kubectl layer wheel when missing."""
    path = TOOLS / name
    if not path.exists():
        subprocess.run(
            [sys.executable, str(ROOT / "k8s" / "tools" / "extract_k8s_tools.py"), str(TOOLS)],
            check=True,
            capture_output=True,
        )
    assert path.exists(), f"{path} missing after running k8s/tools/extract_k8s_tools.py"
    return path


def promtool() -> str:
    """promtool from the Debian ``prometheus`` package; a clear failure when it is missing."""
    found = shutil.which("promtool")
    assert found, (
        "promtool not found: apt-get install prometheus (RTAD_WITH_E2E_TOOLS=1 make prereqs)"
    )
    return found


def run(args: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure the assertion shows its output."""
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    assert proc.returncode == 0, f"{' '.join(map(str, args))}\n{proc.stdout}\n{proc.stderr}"
    return proc


# Values files live as long as the test process (helm results are cached by content).
_VALUES_DIR = tempfile.TemporaryDirectory(prefix="rtad-chart-values-")


def values_file(overrides: dict[str, Any]) -> Path:
    """The overrides as a values file (JSON is YAML), named after its content."""
    text = json.dumps(overrides, sort_keys=True)
    path = Path(_VALUES_DIR.name) / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.yaml"
    path.write_text(text)
    return path


@functools.cache
def _template(overrides_json: str, apis: tuple[str, ...]) -> str:
    values = values_file(json.loads(overrides_json))
    api_flags = [flag for api in apis for flag in ("--api-versions", api)]
    proc = run(
        [
            tool("helm"), "template", RELEASE, CHART,
            "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION,
            "--values", values, *api_flags,
        ]
    )  # fmt: skip
    return proc.stdout


class StrictLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys (PyYAML keeps the last one silently;
    the API server's strict decoding rejects them)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(k, deep=deep) for k, _ in node.value]
        duplicates = {k for k in keys if keys.count(k) > 1}
        if duplicates:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate keys {sorted(map(str, duplicates))}", node.start_mark
            )
        return super().construct_mapping(node, deep=deep)


def render(
    overrides: dict[str, Any] | None = None, apis: tuple[str, ...] = FULL_CLUSTER
) -> list[dict[str, Any]]:
    """``helm template`` of the chart with these overrides, on a cluster serving ``apis``
    (besides the built-in ones): the list of objects."""
    text = _template(json.dumps(overrides or {}, sort_keys=True), apis)
    return [doc for doc in yaml.load_all(text, Loader=StrictLoader) if doc]  # noqa: S506


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """Objects of one kind, by name."""
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of a workload object."""
    if obj["kind"] == "Pod":
        return obj["spec"]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    """The labels its pods carry."""
    if obj["kind"] == "Pod":
        return obj["metadata"].get("labels", {})
    return obj["spec"]["template"]["metadata"].get("labels", {})


def workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in WORKLOAD_KINDS]


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(obj)
    return [*spec.get("initContainers", []), *spec["containers"]]


def is_test_hook(obj: dict[str, Any]) -> bool:
    return obj["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def prometheus_rule_groups(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The PrometheusRule's spec: a Prometheus rule file (``groups``) as promtool reads it."""
    (rule,) = by_kind(docs, "PrometheusRule").values()
    return rule["spec"]
