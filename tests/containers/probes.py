"""The chart's probes, run the way the kubelet runs them.

``exec`` runs in the container (``docker exec``); ``httpGet`` and ``tcpSocket`` go from the
test process to the pod's address inside the pods' network namespace, at the port the probe
names (resolved through the container's named ports and the port plan).
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from tests.containers.docker import DOCKER
from tests.containers.docker_run import ContainerRun
from tests.containers.podnet import PodNetwork

KINDS = ("startupProbe", "readinessProbe", "livenessProbe")


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str


@dataclass(frozen=True)
class Probe:
    kind: str
    spec: dict[str, Any]

    @property
    def period(self) -> float:
        return float(self.spec.get("periodSeconds", 10))

    @property
    def timeout(self) -> float:
        return float(self.spec.get("timeoutSeconds", 1))

    @property
    def failure_threshold(self) -> int:
        return int(self.spec.get("failureThreshold", 3))

    @property
    def initial_delay(self) -> float:
        return float(self.spec.get("initialDelaySeconds", 0))

    def budget(self) -> float:
        """How long a startup probe may keep failing before the kubelet restarts the pod."""
        return self.initial_delay + self.period * self.failure_threshold


def probes_of(run: ContainerRun) -> dict[str, Probe]:
    return {kind: Probe(kind, run.container[kind]) for kind in KINDS if kind in run.container}


@dataclass
class ProbeRunner:
    network: PodNetwork

    def check(self, run: ContainerRun, probe: Probe) -> ProbeResult:
        spec = probe.spec
        try:
            if "exec" in spec:
                return self._exec(run, spec["exec"]["command"], probe.timeout)
            if "httpGet" in spec:
                get = spec["httpGet"]
                port = run.port(get["port"])
                path = get.get("path", "/")
                status, _ = self.network.http_get(port, path, probe.timeout, host=run.ip)
                return ProbeResult(200 <= status < 400, f"GET :{port}{get.get('path')} {status}")
            if "tcpSocket" in spec:
                port = run.port(spec["tcpSocket"]["port"])
                self.network.connect(port, probe.timeout, host=run.ip).close()
                return ProbeResult(True, f"tcp :{port} open")
        except (OSError, subprocess.TimeoutExpired) as exc:
            return ProbeResult(False, f"{probe.kind}: {exc}")
        raise NotImplementedError(f"{probe.kind}: {sorted(spec)} not supported by the harness")

    def _exec(self, run: ContainerRun, command: list[str], timeout: float) -> ProbeResult:
        done = subprocess.run(
            [DOCKER, "exec", run.docker_name, *command],
            capture_output=True,
            text=True,
            timeout=timeout + 5,  # docker exec itself costs a little
        )
        return ProbeResult(done.returncode == 0, f"exec {command}: rc={done.returncode}")

    def wait_started(self, run: ContainerRun, slack: float = 1.0) -> None:
        """The startup probe within its budget, or (without one) the liveness probe's delay."""
        probe = probes_of(run).get("startupProbe")
        if probe is None:
            return
        self._poll(run, probe, probe.budget() * slack, what="startup")

    def wait_ready(self, run: ContainerRun, timeout: float) -> None:
        probe = probes_of(run).get("readinessProbe")
        if probe is not None:
            self._poll(run, probe, timeout, what="readiness")

    def _poll(self, run: ContainerRun, probe: Probe, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        time.sleep(min(probe.initial_delay, timeout))
        last = ProbeResult(False, "never ran")
        while time.monotonic() < deadline:
            last = self.check(run, probe)
            if last.ok:
                return
            _raise_if_exited(run)
            time.sleep(min(probe.period, 2.0))
        raise AssertionError(f"{run.pod_name}: {what} probe failed for {timeout:.0f}s: {last}")


def _raise_if_exited(run: ContainerRun) -> None:
    state = subprocess.run(
        [DOCKER, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", run.docker_name],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not state.startswith("running"):
        logs = subprocess.run(
            [DOCKER, "logs", "--tail", "40", run.docker_name], capture_output=True, text=True
        )
        raise AssertionError(f"{run.docker_name} is {state}:\n{logs.stdout}{logs.stderr}")


@dataclass
class LivenessWatch:
    """Runs every liveness probe at its period in the background, as the kubelet would, and
    remembers any container that reached its failure threshold (the kubelet would restart it)."""

    runner: ProbeRunner
    watched: dict[str, ContainerRun] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    restarts: list[str] = field(default_factory=list)
    checks: int = 0

    def tick(self, now: float, due: dict[str, float]) -> None:
        for name, run in list(self.watched.items()):
            probe = probes_of(run).get("livenessProbe")
            if probe is None or now < due.get(name, 0.0):
                continue
            due[name] = now + probe.period
            result = self.runner.check(run, probe)
            self.checks += 1
            self.failures[name] = 0 if result.ok else self.failures.get(name, 0) + 1
            if self.failures[name] >= probe.failure_threshold:
                self.restarts.append(f"{name}: {result.detail}")
                self.failures[name] = 0

    def loop(self, stop: Any) -> None:
        due: dict[str, float] = {}
        while not stop.wait(1.0):
            try:
                self.tick(time.monotonic(), due)
            except (OSError, RuntimeError) as exc:  # a container being replaced
                self.restarts.append(f"probe error: {exc}")
