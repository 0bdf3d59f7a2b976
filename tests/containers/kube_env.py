"""A container's environment as the kubelet builds it: refs resolved, ``$(VAR)`` expanded.

>>> expand("redis://:$(PW)@h:6379 $$(PW) $(NOPE)", {"PW": "s3"})
'redis://:s3@h:6379 $(PW) $(NOPE)'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tests.containers.chart import Release

_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' expansion: ``$(NAME)`` of a defined NAME, ``$$`` is a literal ``$``."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REFERENCE.sub(substitute, text)


@dataclass(frozen=True)
class PodFacts:
    """What the downward API tells a pod about itself."""

    name: str
    namespace: str
    ip: str = "127.0.0.1"
    node: str = "rtad-node"
    service_account: str = "default"

    def field(self, path: str) -> str:
        values = {
            "metadata.name": self.name,
            "metadata.namespace": self.namespace,
            "status.podIP": self.ip,
            "status.hostIP": self.ip,
            "spec.nodeName": self.node,
            "spec.serviceAccountName": self.service_account,
        }
        if path not in values:
            raise KeyError(f"fieldRef {path} is not supported by the container harness")
        return values[path]


def container_env(container: dict[str, Any], release: Release, pod: PodFacts) -> dict[str, str]:
    """envFrom first, then env in order, each value expanded against what came before."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            data = release.config_maps[source["configMapRef"]["name"]]
        else:
            data = release.secrets[source["secretRef"]["name"]]
        env.update({prefix + key: value for key, value in data.items()})
    for item in container.get("env", []):
        if "valueFrom" in item:
            env[item["name"]] = _value_from(item["valueFrom"], release, pod)
        else:
            env[item["name"]] = expand(str(item.get("value", "")), env)
    return env


def _value_from(source: dict[str, Any], release: Release, pod: PodFacts) -> str:
    if "secretKeyRef" in source:
        ref = source["secretKeyRef"]
        return release.secrets[ref["name"]][ref["key"]]
    if "configMapKeyRef" in source:
        ref = source["configMapKeyRef"]
        return release.config_maps[ref["name"]][ref["key"]]
    if "fieldRef" in source:
        return pod.field(source["fieldRef"]["fieldPath"])
    raise KeyError(f"valueFrom {sorted(source)} is not supported by the container harness")


def command_line(container: dict[str, Any], env: dict[str, str]) -> tuple[list[str], list[str]]:
    """(command, args) with ``$(VAR)`` expanded; either may be empty (the image's own)."""
    command = [expand(str(part), env) for part in container.get("command", [])]
    args = [expand(str(part), env) for part in container.get("args", [])]
    return command, args
