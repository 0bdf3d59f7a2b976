"""The chart on a bare cluster and on one with kube-prometheus-stack and KEDA; values refused.

Monitoring objects (ServiceMonitor, PodMonitor, PrometheusRule) render only where the cluster
serves monitoring.coreos.com/v1, KEDA's only where it serves keda.sh/v1alpha1, with a CPU HPA
as the scorer's fallback: ``helm template --api-versions`` plays the cluster's answer.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.unit.k8s.helm import (
    BARE_CLUSTER,
    CHART,
    FULL_CLUSTER,
    KEDA_API,
    MONITORING_API,
    VALUES_SETS,
    by_kind,
    render,
    tool,
    values_file,
)

pytestmark = pytest.mark.k8s

MONITORING_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}
OPTIONAL_KINDS = MONITORING_KINDS | KEDA_KINDS | {"HorizontalPodAutoscaler"}


def optional_kinds(docs: list[dict[str, Any]]) -> set[str]:
    return {d["kind"] for d in docs} & OPTIONAL_KINDS


@pytest.mark.parametrize(
    ("apis", "expected"),
    [
        (BARE_CLUSTER, {"HorizontalPodAutoscaler"}),
        ((MONITORING_API,), MONITORING_KINDS | {"HorizontalPodAutoscaler"}),
        ((KEDA_API,), KEDA_KINDS),
        (FULL_CLUSTER, MONITORING_KINDS | KEDA_KINDS),
    ],
    ids=["bare", "monitoring-only", "keda-only", "full"],
)
def test_default_values_render_what_the_cluster_serves(
    apis: tuple[str, ...], expected: set[str]
) -> None:
    assert optional_kinds(render(apis=apis)) == expected
    assert optional_kinds(render(VALUES_SETS["laptop"], apis=apis)) == expected


def test_on_a_bare_cluster_the_hpa_scales_the_scorer_and_dashboards_stay() -> None:
    docs = render(apis=BARE_CLUSTER)
    hpa = by_kind(docs, "HorizontalPodAutoscaler")["rtad-scorer"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "rtad-scorer"
    assert "replicas" not in by_kind(docs, "Deployment")["rtad-scorer"]["spec"]
    dashboards = [d for d in docs if "grafana_dashboard" in d["metadata"].get("labels", {})]
    assert len(dashboards) == len(list((CHART / "dashboards").glob("*.json")))
    redis_policy = by_kind(docs, "NetworkPolicy")["rtad-redis"]["spec"]
    peers = [peer for rule in redis_policy["ingress"] for peer in rule["from"]]
    assert not [peer for peer in peers if "namespaceSelector" in peer]  # no KEDA operator


@pytest.mark.parametrize(
    ("setting", "apis", "rendered"),
    [(True, BARE_CLUSTER, True), (False, FULL_CLUSTER, False), ("auto", FULL_CLUSTER, True)],
)
def test_values_force_the_integrations_on_or_off(
    setting: bool | str, apis: tuple[str, ...], rendered: bool
) -> None:
    overrides = {
        "monitoring": {"enabled": setting},
        "scorer": {"autoscaling": {"keda": {"enabled": setting}}},
    }
    kinds = optional_kinds(render(overrides, apis=apis))
    assert (kinds == MONITORING_KINDS | KEDA_KINDS) is rendered, kinds
    assert ("HorizontalPodAutoscaler" in kinds) is not rendered


def test_without_keda_and_without_the_hpa_the_scorer_has_fixed_replicas() -> None:
    docs = render({"scorer": {"autoscaling": {"hpa": {"enabled": False}}}}, apis=BARE_CLUSTER)
    assert not optional_kinds(docs)
    assert by_kind(docs, "Deployment")["rtad-scorer"]["spec"]["replicas"] == 2


# Maps whose keys are the user's (labels, Spark properties), and Helm's own "global".
SERVICES = ("redis", "generator", "spark", "scorer")
FREE_FORM = {
    "/$defs/labelSelector/properties/matchLabels",
    "/properties/global",
    "/properties/monitoring/properties/additionalLabels",
    "/properties/spark/properties/conf",
    *(f"/properties/{service}/properties/nodeSelector" for service in SERVICES),
}


def _objects_accepting_unknown_keys(node: Any, path: str = "") -> list[str]:
    found = []
    if isinstance(node, dict):
        is_object = node.get("type") == "object" or "properties" in node
        if is_object and "properties" in node and node.get("additionalProperties") is not False:
            found.append(path)
        if is_object and "properties" not in node and path not in FREE_FORM:
            # a map: fine when it is one of the named ones, or documented as Kubernetes' own
            if "description" not in node:
                found.append(path)
        for key, value in node.items():
            found += _objects_accepting_unknown_keys(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _objects_accepting_unknown_keys(value, f"{path}[{i}]")
    return found


def test_the_values_schema_refuses_unknown_keys_at_every_level() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert _objects_accepting_unknown_keys(schema) == []


@pytest.mark.parametrize(
    ("overrides", "where", "key"),
    [
        ({"sharding": 4}, "", "sharding"),
        ({"scorer": {"autoscaling": {"keda": {"maxReplica": 3}}}},
         "/scorer/autoscaling/keda", "maxReplica"),
        ({"spark": {"worker": {"resources": {"requests": {"cpus": 1}}}}},
         "/spark/worker/resources/requests", "cpus"),
        ({"podSecurityContext": {"runAsUsr": 5}}, "/podSecurityContext", "runAsUsr"),
    ],
    ids=["top", "nested", "resources", "security-context"],
)  # fmt: skip
@pytest.mark.parametrize("command", ["template", "lint", "install"])
def test_an_unknown_key_is_refused_with_one_clear_line(
    overrides: dict[str, Any], where: str, key: str, command: str
) -> None:
    values = str(values_file(overrides))
    args = {
        "template": ["template", "rtad", str(CHART), "--values", values],
        "lint": ["lint", "--strict", str(CHART), "--values", values],
        "install": ["install", "rtad", str(CHART), "--dry-run=client", "--values", values],
    }[command]
    proc = subprocess.run([str(tool("helm")), *args], capture_output=True, text=True)
    assert proc.returncode != 0, f"helm {command} accepted {overrides}"
    output = proc.stdout + proc.stderr
    expected = f"- at '{where}': additional properties '{key}' not allowed"
    assert expected in output.splitlines(), output
    assert "panic" not in output and "goroutine" not in output
