"""One container of a rendered pod as ``docker run`` arguments.

Command and args, env (refs resolved, ``$(VAR)`` expanded), volumes, resources and the
security context map onto Docker as the kubelet maps them onto a runtime:

=====================================  ============================================
Kubernetes                             docker run
=====================================  ============================================
command / args                         --entrypoint command[0], command[1:] + args
limits.cpu / limits.memory             --cpus / --memory
requests.cpu / requests.memory         --cpu-shares (x1024) / --memory-reservation
runAsUser, runAsGroup, fsGroup         --user uid:gid, --group-add
readOnlyRootFilesystem                 --read-only
capabilities.drop / add                --cap-drop / --cap-add
allowPrivilegeEscalation: false        --security-opt no-new-privileges
terminationGracePeriodSeconds          --stop-timeout
=====================================  ============================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.containers.chart import Release, Workload
from tests.containers.kube_env import PodFacts, command_line, container_env
from tests.containers.ports import PortPlan
from tests.containers.quantity import cpus, memory_bytes
from tests.containers.volumes import VolumeStore


@dataclass(frozen=True)
class ContainerRun:
    """What ``docker run`` gets for one container, kept for probes and restarts."""

    docker_name: str
    pod_name: str
    container: dict[str, Any]
    args: list[str]
    grace_seconds: int
    ports: dict[str, int]  # port name (or number as text) -> port on the shared loopback
    ip: str  # the pod's own loopback address (status.podIP)

    def port(self, ref: str | int) -> int:
        return self.ports[str(ref)] if str(ref) in self.ports else int(ref)


def security_context(pod: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """The container's effective context: its own fields over the pod's."""
    merged = dict(pod["spec"].get("securityContext", {}))
    merged.update(container.get("securityContext", {}))
    return merged


def security_args(context: dict[str, Any]) -> list[str]:
    uid, gid = context.get("runAsUser"), context.get("runAsGroup")
    if context.get("runAsNonRoot") and uid in (None, 0):
        raise AssertionError(f"runAsNonRoot with runAsUser={uid!r}: the pod would not start")
    args = []
    if uid is not None:
        args += ["--user", f"{uid}:{gid}" if gid is not None else str(uid)]
    for group in [context.get("fsGroup"), *context.get("supplementalGroups", [])]:
        if group is not None:
            args += ["--group-add", str(group)]
    if context.get("readOnlyRootFilesystem"):
        args.append("--read-only")
    capabilities = context.get("capabilities", {})
    args += [a for cap in capabilities.get("drop", []) for a in ("--cap-drop", cap)]
    args += [a for cap in capabilities.get("add", []) for a in ("--cap-add", cap)]
    if context.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    if context.get("seccompProfile", {}).get("type") == "Unconfined":
        args += ["--security-opt", "seccomp=unconfined"]
    return args


def resource_args(resources: dict[str, Any]) -> list[str]:
    limits, requests = resources.get("limits", {}), resources.get("requests", {})
    args = []
    if "cpu" in limits:
        args += ["--cpus", f"{cpus(limits['cpu']):g}"]
    if "memory" in limits:
        args += ["--memory", str(memory_bytes(limits["memory"]))]
    if "cpu" in requests:
        args += ["--cpu-shares", str(max(2, int(cpus(requests["cpu"]) * 1024)))]
    if "memory" in requests:
        args += ["--memory-reservation", str(memory_bytes(requests["memory"]))]
    return args


@dataclass
class Translator:
    """Turns (workload, replica, container) into a :class:`ContainerRun`."""

    release: Release
    prefix: str
    network: str
    volumes: VolumeStore
    plan: PortPlan
    env_dir: Path
    labels: dict[str, str]

    def run(self, workload: Workload, index: int, container: dict[str, Any]) -> ContainerRun:
        pod_name = workload.pod_name(index)
        declared = {
            str(p.get("name", p["containerPort"])): int(p["containerPort"])
            for p in container.get("ports", [])
        }
        moved = self.plan.claim(pod_name, sorted(set(declared.values())))
        ports = {name: moved[port] for name, port in declared.items()}
        ports.update({str(port): moved[port] for port in declared.values()})
        ip = self.release.pod_ip(workload.name, index)
        facts = PodFacts(pod_name, self.release.namespace, ip=ip)
        env = self.plan.rewrite_env(pod_name, container_env(container, self.release, facts))
        command, args = command_line(container, env)
        command, args = self.plan.rewrite(pod_name, command), self.plan.rewrite(pod_name, args)
        grace = int(workload.spec.get("terminationGracePeriodSeconds", 30))
        docker_name = f"{self.prefix}-{pod_name}-{container['name']}"
        argv = ["run", "-d", "--name", docker_name, "--network", self.network]
        argv += ["--stop-timeout", str(grace), "--env-file", self._env_file(docker_name, env)]
        argv += [a for k, v in self.labels.items() for a in ("--label", f"{k}={v}")]
        argv += security_args(security_context(workload.pod, container))
        argv += resource_args(container.get("resources", {}))
        for mount in self.volumes.mounts(pod_name, workload.pod, container, self.release):
            argv += mount.docker_args()
        if container.get("workingDir"):
            argv += ["--workdir", container["workingDir"]]
        if command:
            argv += ["--entrypoint", command[0], container["image"], *command[1:], *args]
        else:
            argv += [container["image"], *args]
        return ContainerRun(docker_name, pod_name, container, argv, grace, ports, ip)

    def _env_file(self, docker_name: str, env: dict[str, str]) -> str:
        path = self.env_dir / f"{docker_name}.env"
        if any("\n" in value for value in env.values()):
            raise NotImplementedError(f"{docker_name}: multi-line env values are not supported")
        path.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
        os.chmod(path, 0o600)
        return str(path)
