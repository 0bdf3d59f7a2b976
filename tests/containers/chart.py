"""Render the chart with helm and sort what it renders: workloads, config, services, monitors."""

from __future__ import annotations

import base64
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "rtad"
LAPTOP_VALUES = REPO / "k8s" / "values" / "rtad-laptop.yaml"
HELM = REPO / ".tools" / "helm"
#: The cluster the test stands for has kube-prometheus-stack (its monitors and rules are
#: what Prometheus is configured from); KEDA is not there.
API_VERSIONS = ("monitoring.coreos.com/v1",)


@dataclass(frozen=True)
class Workload:
    """A Deployment, a StatefulSet or a bare Pod (the ``helm test`` hook)."""

    kind: str
    name: str
    replicas: int
    pod: Manifest  # the pod template: metadata + spec
    claim_templates: tuple[str, ...] = ()

    @property
    def spec(self) -> Manifest:
        return self.pod["spec"]  # type: ignore[no-any-return]

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.pod.get("metadata", {}).get("labels", {}))

    def pod_name(self, index: int) -> str:
        """StatefulSet pods are <name>-<ordinal>; Deployment pods get <name>-<index> here."""
        return self.name if self.kind == "Pod" else f"{self.name}-{index}"


@dataclass
class Release:
    """Everything one ``helm template`` rendered, by kind."""

    namespace: str
    workloads: dict[str, Workload] = field(default_factory=dict)
    tests: dict[str, Workload] = field(default_factory=dict)
    config_maps: dict[str, dict[str, str]] = field(default_factory=dict)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    services: dict[str, Manifest] = field(default_factory=dict)
    monitors: list[Manifest] = field(default_factory=list)
    rules: list[Manifest] = field(default_factory=list)
    claims: dict[str, Manifest] = field(default_factory=dict)

    def pod_ip(self, workload: str, index: int) -> str:
        """Each pod's own loopback address, 127.0.<workload>.<replica + 1>.

        Spark takes executors with the same address for one host and reads their shuffle
        files from each other's disks: pods sharing one address would break that.
        """
        names = sorted([*self.workloads, *self.tests])
        return f"127.0.{names.index(workload) + 1}.{index + 1}"

    def service_hosts(self) -> dict[str, str]:
        """Every name a pod may use for a Service (short, namespaced, .svc[.cluster.local]) ->
        the address of the first pod it selects (a ClusterIP's choice, made once)."""
        hosts = {}
        for name, service in self.services.items():
            selector = service["spec"].get("selector", {})
            chosen = [
                w for w in sorted(self.workloads) if selects(selector, self.workloads[w].labels)
            ]
            address = self.pod_ip(chosen[0], 0) if chosen else "127.0.0.1"
            base = f"{name}.{self.namespace}"
            for host in (name, base, f"{base}.svc", f"{base}.svc.cluster.local"):
                hosts[host] = address
        return hosts


def render(release: str, namespace: str, overrides: dict[str, str]) -> list[Manifest]:
    """``helm template`` with the laptop values plus ``overrides`` (--set)."""
    argv = [str(HELM), "template", release, str(CHART), "--namespace", namespace]
    argv += ["--values", str(LAPTOP_VALUES)]
    argv += [arg for api in API_VERSIONS for arg in ("--api-versions", api)]
    for key, value in overrides.items():
        argv += ["--set-string" if isinstance(value, str) else "--set", f"{key}={value}"]
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"helm template failed: {out.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def parse(manifests: list[Manifest], namespace: str) -> Release:
    release = Release(namespace=namespace)
    for doc in manifests:
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind in ("Deployment", "StatefulSet"):
            spec = doc["spec"]
            claims = tuple(t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", []))
            release.workloads[name] = Workload(
                kind, name, int(spec.get("replicas", 1)), spec["template"], claims
            )
        elif kind == "Pod":
            pod = {"metadata": doc["metadata"], "spec": doc["spec"]}
            hooks = doc["metadata"].get("annotations", {}).get("helm.sh/hook", "")
            target = release.tests if "test" in hooks else release.workloads
            target[name] = Workload(kind, name, 1, pod)
        elif kind == "ConfigMap":
            release.config_maps[name] = dict(doc.get("data", {}))
        elif kind == "Secret":
            release.secrets[name] = _secret_data(doc)
        elif kind == "Service":
            release.services[name] = doc
        elif kind in ("ServiceMonitor", "PodMonitor"):
            release.monitors.append(doc)
        elif kind == "PrometheusRule":
            release.rules.append(doc)
        elif kind == "PersistentVolumeClaim":
            release.claims[name] = doc
    return release


def _secret_data(doc: Manifest) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in (doc.get("data") or {}).items()}
    data.update(doc.get("stringData") or {})
    return data


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())
