"""Every workload of the chart: Pod Security "restricted", probes, bounded resources, no token."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.k8s.helm import (
    by_kind,
    containers,
    is_test_hook,
    pod_labels,
    pod_spec,
    workloads,
)

pytestmark = pytest.mark.k8s


def _name(obj: dict[str, Any], container: dict[str, Any] | None = None) -> str:
    suffix = f"/{container['name']}" if container else ""
    return f"{obj['kind']}/{obj['metadata']['name']}{suffix}"


def test_pods_meet_the_restricted_pod_security_standard(rendered: list[dict[str, Any]]) -> None:
    assert workloads(rendered)
    for obj in workloads(rendered):
        pod = pod_spec(obj)
        psc = pod.get("securityContext", {})
        assert psc.get("runAsNonRoot") is True, _name(obj)
        assert psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", _name(obj)
        assert not any(pod.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), _name(obj)
        assert all("hostPath" not in v for v in pod.get("volumes", [])), _name(obj)
        for c in containers(obj):
            csc = c.get("securityContext", {})
            where = _name(obj, c)
            assert csc.get("allowPrivilegeEscalation") is False, where
            assert csc.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not csc.get("capabilities", {}).get("add"), where
            assert csc.get("privileged", False) is False, where
            assert csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, where
            assert csc.get("runAsUser", psc.get("runAsUser")) not in (None, 0), where
            assert csc.get("seccompProfile", {}).get("type") == "RuntimeDefault", where


def test_root_filesystems_are_read_only_with_a_writable_tmp(
    rendered: list[dict[str, Any]],
) -> None:
    for obj in workloads(rendered):
        volumes = {v["name"]: v for v in pod_spec(obj).get("volumes", [])}
        for c in containers(obj):
            assert c["securityContext"].get("readOnlyRootFilesystem") is True, _name(obj, c)
            if is_test_hook(obj):
                continue
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            assert "/tmp" in mounts, _name(obj, c)
            assert "emptyDir" in volumes[mounts["/tmp"]], _name(obj, c)


def test_every_long_running_container_has_probes_and_bounded_resources(
    rendered: list[dict[str, Any]],
) -> None:
    for obj in workloads(rendered):
        for c in containers(obj):
            where = _name(obj, c)
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c.get("resources", {}).get(kind, {})), where
            if is_test_hook(obj):
                continue  # a one-shot check is itself the probe
            assert "livenessProbe" in c and "readinessProbe" in c, where
            ports = {p["name"] for p in c.get("ports", [])}
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                action = c.get(probe, {}).get("httpGet") or c.get(probe, {}).get("tcpSocket")
                if action and isinstance(action["port"], str):
                    assert action["port"] in ports, f"{where}: {probe} port {action['port']}"


def test_no_pod_mounts_a_service_account_token(rendered: list[dict[str, Any]]) -> None:
    accounts = by_kind(rendered, "ServiceAccount")
    assert accounts and all(a["automountServiceAccountToken"] is False for a in accounts.values())
    for obj in workloads(rendered):
        pod = pod_spec(obj)
        assert pod.get("automountServiceAccountToken") is False, _name(obj)
        if not is_test_hook(obj):
            assert pod["serviceAccountName"] in accounts, _name(obj)
    # Nothing talks to the API server, so nothing is granted.
    granted = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
    assert not [d for d in rendered if d["kind"] in granted]


def test_images_are_pinned(rendered: list[dict[str, Any]]) -> None:
    for obj in workloads(rendered):
        for c in containers(obj):
            repo, _, tag = c["image"].rpartition(":")
            assert repo and tag and tag != "latest", _name(obj, c)


def test_default_deny_network_policy_selects_every_pod(default_docs: list[dict[str, Any]]) -> None:
    policies = by_kind(default_docs, "NetworkPolicy")
    deny = policies["rtad-default-deny"]["spec"]
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    for obj in workloads(default_docs):
        labels = pod_labels(obj)
        assert deny["podSelector"]["matchLabels"].items() <= labels.items(), _name(obj)


def test_only_the_pipelines_pods_reach_redis(default_docs: list[dict[str, Any]]) -> None:
    policy = by_kind(default_docs, "NetworkPolicy")["rtad-redis"]["spec"]
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 6379}]
    in_release = [f for f in rule["from"] if "namespaceSelector" not in f]
    (clients,) = in_release
    assert clients["podSelector"]["matchLabels"]["rtad.io/redis-client"] == "true"
    keda = [f for f in rule["from"] if "namespaceSelector" in f]
    assert keda and keda[0]["podSelector"]["matchLabels"] == {"app": "keda-operator"}
    # Every pod holding the Redis URL carries the client label, and only those.
    for obj in workloads(default_docs):
        has_url = any(
            "RTAD_REDIS_URL" in {e["name"] for e in c.get("env", [])} for c in containers(obj)
        )
        labelled = pod_labels(obj).get("rtad.io/redis-client") == "true"
        assert has_url == labelled, _name(obj)


def test_prometheus_may_scrape_the_metrics_ports(default_docs: list[dict[str, Any]]) -> None:
    policy = by_kind(default_docs, "NetworkPolicy")["rtad-prometheus"]["spec"]
    (rule,) = policy["ingress"]
    assert {p["port"] for p in rule["ports"]} == {9100, 8000}
    (source,) = rule["from"]
    assert source["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }
    assert source["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}


def test_pod_disruption_budgets_select_their_pods(default_docs: list[dict[str, Any]]) -> None:
    pdbs = by_kind(default_docs, "PodDisruptionBudget")
    assert {"rtad-scorer", "rtad-spark-worker"} <= set(pdbs)
    for name, pdb in pdbs.items():
        selector = pdb["spec"]["selector"]["matchLabels"].items()
        assert [w for w in workloads(default_docs) if selector <= pod_labels(w).items()], name
