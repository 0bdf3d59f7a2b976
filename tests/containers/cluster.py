"""The rendered release as running containers: start, wait, stop, restart, scale."""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass, field

from tests.containers.chart import Release, Workload
from tests.containers.docker import DOCKER, docker, docker_out
from tests.containers.docker_run import ContainerRun, Translator
from tests.containers.probes import LivenessWatch, ProbeRunner


@dataclass(frozen=True)
class Stopped:
    seconds: float
    exit_code: int
    logs: str


@dataclass
class Cluster:
    """Pods of one release; each pod is its containers (no init containers in the chart)."""

    release: Release
    translator: Translator
    probes: ProbeRunner
    pods: dict[str, list[ContainerRun]] = field(default_factory=dict)
    workload_of: dict[str, Workload] = field(default_factory=dict)
    restarted: list[str] = field(default_factory=list)
    previous_logs: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.liveness = LivenessWatch(self.probes)
        self._stop_watch = threading.Event()
        self._watch = threading.Thread(
            target=self.liveness.loop, args=(self._stop_watch,), daemon=True
        )
        self._watch.start()

    # ------------------------------------------------------------------ lifecycle

    def start(self, workload: Workload, index: int = 0, ready_timeout: float = 180) -> str:
        """Run one pod's containers, wait for startup and readiness, watch liveness."""
        if workload.spec.get("initContainers"):
            raise NotImplementedError(f"{workload.name}: init containers are not supported")
        runs = [self.translator.run(workload, index, c) for c in workload.spec["containers"]]
        pod = runs[0].pod_name
        self.pods[pod], self.workload_of[pod] = runs, workload
        for run in runs:
            docker(*run.args)
        self.wait_ready(pod, ready_timeout)
        return pod

    def wait_ready(self, pod: str, timeout: float = 180) -> None:
        for run in self.pods[pod]:
            self.probes.wait_started(run)
            self.probes.wait_ready(run, timeout)
            self.liveness.watched[run.docker_name] = run

    def stop(self, pod: str) -> Stopped:
        """SIGTERM, then SIGKILL after the pod's terminationGracePeriodSeconds."""
        run = self.pods[pod][0]
        for each in self.pods[pod]:
            self.liveness.watched.pop(each.docker_name, None)
        started = time.monotonic()
        grace = run.grace_seconds
        docker("stop", "-t", str(grace), run.docker_name, timeout=grace + 60)
        seconds = time.monotonic() - started
        code = int(docker_out("inspect", "-f", "{{.State.ExitCode}}", run.docker_name))
        return Stopped(seconds, code, self.logs(pod))

    def restart(self, pod: str, ready_timeout: float = 180) -> None:
        """A new container in place of the stopped one (same pod name, volumes and ports)."""
        for run in self.pods[pod]:
            old = docker("logs", run.docker_name, check=False)
            self.previous_logs[run.docker_name] = (
                self.previous_logs.get(run.docker_name, "") + old.stdout + old.stderr
            )
            docker("rm", "-f", run.docker_name)
            docker(*run.args)
        self.restarted.append(pod)
        self.wait_ready(pod, ready_timeout)

    def delete(self, pod: str) -> Stopped:
        stopped = self.stop(pod)
        for run in self.pods.pop(pod):
            docker("rm", "-f", run.docker_name)
        self.translator.plan.release(pod)
        return stopped

    def run_to_completion(self, workload: Workload, timeout: float = 120) -> tuple[int, str]:
        """A bare Pod with restartPolicy Never (the ``helm test`` hook): exit code and output."""
        (container,) = workload.spec["containers"]
        run = self.translator.run(workload, 0, container)
        docker("rm", "-f", run.docker_name, check=False)
        docker(*run.args)
        code = int(docker_out("wait", run.docker_name, timeout=timeout))
        output = docker("logs", run.docker_name).stdout + docker("logs", run.docker_name).stderr
        docker("rm", "-f", run.docker_name, check=False)
        return code, output

    # ------------------------------------------------------------------ inspection

    def restarts_of(self, pod: str) -> list[str]:
        return [each for each in self.restarted if each == pod]

    def pods_of(self, workload: str) -> list[str]:
        return [pod for pod in self.pods if self.workload_of[pod].name == workload]

    def logs(self, pod: str, tail: int = 60) -> str:
        name = self.pods[pod][0].docker_name
        out = subprocess.run(
            [DOCKER, "logs", "--tail", str(tail), name], capture_output=True, text=True
        )
        return out.stdout + out.stderr

    def exited(self) -> list[str]:
        """Watched containers that are no longer running (a crash the kubelet would restart)."""
        out = []
        for pod, runs in self.pods.items():
            for run in runs:
                if run.docker_name not in self.liveness.watched:
                    continue
                state = docker_out("inspect", "-f", "{{.State.Status}}", run.docker_name)
                if state != "running":
                    out.append(f"{pod} ({state}):\n{self.logs(pod)}")
        return out

    def shutdown(self) -> None:
        self._stop_watch.set()
        for runs in self.pods.values():
            for run in runs:
                docker("rm", "-f", run.docker_name, check=False)
        self.pods.clear()
