"""The Docker engine's own CLI (/usr/bin/docker), run as a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess

#: Debian's docker.io CLI: it matches the 20.10 engine and builds with its own BuildKit.
DOCKER = os.environ.get("RTAD_DOCKER", "/usr/bin/docker")


def docker_missing() -> str | None:
    """Why no container can run here, or None when the engine answers."""
    if not (os.path.exists(DOCKER) or shutil.which(DOCKER)):
        return f"{DOCKER} not found: install docker.io (Debian) and start dockerd"
    probe = subprocess.run(
        [DOCKER, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        return f"the Docker engine does not answer ({probe.stderr.strip()[:200]}): start dockerd"
    return None


def docker(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [DOCKER, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])} failed: {result.stderr.strip()[-2000:]}")
    return result


def docker_out(*args: str, timeout: float = 300) -> str:
    return docker(*args, timeout=timeout).stdout.strip()
