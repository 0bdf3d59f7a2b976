"""Pod volumes as Docker mounts.

- ``emptyDir`` -> a named Docker volume per pod (``medium: Memory`` -> tmpfs), mode 0777
  like the kubelet's;
- a PersistentVolumeClaim -> one named volume per claim, shared by every pod mounting it
  (what ReadWriteOnce on one node and ReadWriteMany both allow);
- a StatefulSet's ``volumeClaimTemplates`` -> one named volume per pod and template;
- ``configMap`` / ``secret`` -> a directory of files written from the rendered objects,
  bind-mounted read-only.
New volumes get the pod's ``fsGroup`` as their group, setgid, as the kubelet does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.containers.chart import Release
from tests.containers.docker import docker
from tests.containers.quantity import memory_bytes


@dataclass(frozen=True)
class Mount:
    kind: str  # "volume", "tmpfs" or "bind"
    source: str
    target: str
    read_only: bool

    def docker_args(self) -> list[str]:
        if self.kind == "tmpfs":
            return ["--tmpfs", f"{self.target}:{self.source}"]
        spec = f"type={self.kind},source={self.source},target={self.target}"
        return ["--mount", spec + (",readonly" if self.read_only else "")]


@dataclass
class VolumeStore:
    """Creates and remembers the Docker volumes and file trees of one release under test."""

    prefix: str
    files_root: Path
    helper_image: str
    labels: dict[str, str] = field(default_factory=dict)
    created: set[str] = field(default_factory=set)

    def mounts(
        self, pod_name: str, pod: dict[str, Any], container: dict[str, Any], release: Release
    ) -> list[Mount]:
        volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        fs_group = pod["spec"].get("securityContext", {}).get("fsGroup")
        out = []
        for mount in container.get("volumeMounts", []):
            if "subPath" in mount:
                raise NotImplementedError("subPath mounts are not supported by the harness")
            name, read_only = mount["name"], bool(mount.get("readOnly", False))
            source = volumes.get(name, {"persistentVolumeClaim": {"claimName": None}})
            kind, where = self._source(pod_name, name, source, release, fs_group)
            out.append(Mount(kind, where, mount["mountPath"], read_only))
        return out

    def _source(
        self, pod_name: str, name: str, volume: dict[str, Any], release: Release, fs_group: Any
    ) -> tuple[str, str]:
        if "emptyDir" in volume:
            empty = volume["emptyDir"] or {}
            if empty.get("medium") == "Memory":
                size = memory_bytes(empty.get("sizeLimit", "64Mi"))
                return "tmpfs", f"rw,size={size},mode=1777"
            return "volume", self.volume(f"{pod_name}-{name}", fs_group, "2777")
        if "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"] or f"{name}-{pod_name}"
            return "volume", self.volume(f"pvc-{claim}", fs_group, "2775")
        if "configMap" in volume:
            ref = volume["configMap"]
            return "bind", self.files(pod_name, name, release.config_maps[ref["name"]], ref)
        if "secret" in volume:
            ref = volume["secret"]
            return "bind", self.files(pod_name, name, release.secrets[ref["secretName"]], ref)
        raise NotImplementedError(f"volume {name}: {sorted(volume)} not supported by the harness")

    def volume(self, name: str, fs_group: Any, mode: str) -> str:
        full = f"{self.prefix}-{name}"
        if full not in self.created:
            labels = [arg for k, v in self.labels.items() for arg in ("--label", f"{k}={v}")]
            docker("volume", "create", *labels, full)
            group = str(fs_group) if fs_group is not None else "0"
            script = f"chgrp {group} /v && chmod {mode} /v"
            docker(
                "run",
                "--rm",
                "--network",
                "none",
                "-v",
                f"{full}:/v",
                self.helper_image,
                "sh",
                "-c",
                script,
            )
            self.created.add(full)
        return full

    def files(self, pod_name: str, name: str, data: dict[str, str], ref: dict[str, Any]) -> str:
        root = self.files_root / pod_name / name
        root.mkdir(parents=True, exist_ok=True)
        items = ref.get("items") or [{"key": key, "path": key} for key in data]
        mode = int(ref.get("defaultMode", 0o644))
        for item in items:
            path = root / item["path"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(data[item["key"]])
            os.chmod(path, int(item.get("mode", mode)))
        for directory in [root, *root.parents]:
            if directory == self.files_root.parent:
                break
            os.chmod(directory, 0o755)
        return str(root)

    def remove_all(self) -> None:
        for name in sorted(self.created):
            docker("volume", "rm", "-f", name, check=False)
        self.created.clear()
