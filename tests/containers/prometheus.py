"""A real Prometheus scraping the containers as kube-prometheus-stack would.

The chart's ServiceMonitor and PodMonitor are turned into a static scrape configuration with
the target labels the Prometheus Operator adds: ``job`` (the Service name, or
``<namespace>/<PodMonitor name>``), ``namespace``, ``pod``, ``container``, ``endpoint`` (the
port name) and, through a Service, ``service``. The PrometheusRule's groups become a rule file.
Prometheus runs inside the pods' network namespace; its targets are <pod address>:<port>.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.containers.chart import Release, selects
from tests.containers.cluster import Cluster
from tests.containers.docker_run import ContainerRun
from tests.containers.podnet import PodNetwork

PROMETHEUS = "/usr/bin/prometheus"
PORT = 9090


@dataclass(frozen=True)
class Target:
    address: str
    labels: dict[str, str]
    path: str
    interval: str


def _endpoint_targets(
    runs: list[ContainerRun], endpoint: dict[str, Any], port: str | int, labels: dict[str, str]
) -> list[Target]:
    """One target per container of the pod that has ``port`` (a number or a port name)."""
    out = []
    for run in runs:
        number = run.ports.get(str(port))
        if number is None:
            continue
        container = {"container": run.container["name"], "endpoint": endpoint["port"]}
        out.append(
            Target(
                f"{run.ip}:{number}",
                {**labels, **container},
                endpoint.get("path", "/metrics"),
                endpoint.get("interval", "30s"),
            )
        )
    return out


def service_monitor_targets(monitor: dict[str, Any], cluster: Cluster) -> list[Target]:
    release, out = cluster.release, []
    selector = monitor["spec"]["selector"].get("matchLabels", {})
    for service_name, service in release.services.items():
        if not selects(selector, service["metadata"].get("labels", {})):
            continue
        for endpoint in monitor["spec"]["endpoints"]:
            port = next(p for p in service["spec"]["ports"] if p.get("name") == endpoint["port"])
            target_port = port.get("targetPort", port["port"])
            for pod, runs in cluster.pods.items():
                pod_labels = cluster.workload_of[pod].labels
                if not selects(service["spec"].get("selector", {}), pod_labels):
                    continue
                labels = {
                    "job": service_name,
                    "namespace": release.namespace,
                    "pod": pod,
                    "service": service_name,
                }
                out += _endpoint_targets(runs, endpoint, target_port, labels)
    return out


def pod_monitor_targets(monitor: dict[str, Any], cluster: Cluster) -> list[Target]:
    release, out = cluster.release, []
    selector = monitor["spec"]["selector"].get("matchLabels", {})
    job = f"{release.namespace}/{monitor['metadata']['name']}"
    for pod, runs in cluster.pods.items():
        if not selects(selector, cluster.workload_of[pod].labels):
            continue
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            labels = {"job": job, "namespace": release.namespace, "pod": pod}
            out += _endpoint_targets(runs, endpoint, endpoint["port"], labels)
    return out


def targets(cluster: Cluster) -> list[Target]:
    out = []
    for monitor in cluster.release.monitors:
        if monitor["kind"] == "ServiceMonitor":
            out += service_monitor_targets(monitor, cluster)
        else:
            out += pod_monitor_targets(monitor, cluster)
    return out


def write_config(directory: Path, cluster: Cluster, release: Release) -> Path:
    jobs: dict[tuple[str, str, str], list[Target]] = {}
    for target in targets(cluster):
        jobs.setdefault((target.labels["job"], target.path, target.interval), []).append(target)
    scrape = []
    for index, ((job, path, interval), members) in enumerate(sorted(jobs.items())):
        scrape.append(
            {
                "job_name": f"{job}-{index}",
                "metrics_path": path,
                "scrape_interval": interval,
                "static_configs": [{"targets": [t.address], "labels": t.labels} for t in members],
            }
        )
    rules = directory / "rules.yaml"
    groups = [group for rule in release.rules for group in rule["spec"]["groups"]]
    rules.write_text(yaml.safe_dump({"groups": groups}))
    config = directory / "prometheus.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"evaluation_interval": "5s"},
                "rule_files": [str(rules)],
                "scrape_configs": scrape,
            }
        )
    )
    return config


@dataclass
class Prometheus:
    network: PodNetwork
    directory: Path

    def start(self, config: Path) -> None:
        self.log = (self.directory / "prometheus.log").open("wb")
        argv = [
            PROMETHEUS,
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{PORT}",
            f"--storage.tsdb.path={self.directory / 'data'}",
        ]
        self.process = self.network.popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.network.http_get(PORT, "/-/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"Prometheus did not get ready: {self.tail()}")

    def api(self, path: str, **params: str) -> Any:
        query = f"/api/v1/{path}?{urllib.parse.urlencode(params)}" if params else f"/api/v1/{path}"
        status, body = self.network.http_get(PORT, query, timeout=30)
        payload = json.loads(body)
        if status != 200 or payload.get("status") != "success":
            raise AssertionError(f"Prometheus {path} {params}: {status} {body[:500]!r}")
        return payload["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        return self.api("query", query=promql)["result"]  # type: ignore[no-any-return]

    def tail(self) -> str:
        return (self.directory / "prometheus.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
