"""``make tools``: the packaged helm/kubectl where they run, else installed ones, else one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.k8s.helm import ROOT, tool

SCRIPT_DIR = ROOT / "k8s" / "tools"
sys.path.insert(0, str(SCRIPT_DIR))
import extract_k8s_tools  # noqa: E402

pytestmark = pytest.mark.k8s


@pytest.mark.parametrize(
    ("system", "machine", "supported"),
    [("Linux", "x86_64", True), ("Linux", "aarch64", False), ("Darwin", "arm64", False)],
)
def test_the_packaged_binaries_run_on_linux_x86_64_only(
    system: str, machine: str, supported: bool
) -> None:
    reason = extract_k8s_tools.unsupported_platform(system, machine)
    assert (reason is None) is supported
    if reason:
        assert f"{system} {machine}" in reason


def test_helm_version_is_read_from_its_short_output() -> None:
    assert extract_k8s_tools.helm_version("v4.1.4+g05fa379\n") == (4, 1)
    assert extract_k8s_tools.helm_version("v3.17.0+gabc") == (3, 17)
    assert extract_k8s_tools.helm_version("command not found") is None


def _link_installed(path: str, dest: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys; from pathlib import Path; import extract_k8s_tools as t; "
    code += "t.link_installed(Path(sys.argv[1]))"
    env = {**os.environ, "PATH": path, "PYTHONPATH": str(SCRIPT_DIR)}
    return subprocess.run(
        [sys.executable, "-c", code, str(dest)], capture_output=True, text=True, env=env
    )


def test_without_helm_on_path_one_line_says_what_to_install(tmp_path: Path) -> None:
    proc = _link_installed(str(tmp_path / "empty"), tmp_path / "tools")
    assert proc.returncode != 0
    (line,) = proc.stderr.splitlines()
    assert line.startswith("make tools: ") and "helm >= 4.1" in line and "kubectl" in line


def test_an_installed_helm_4_and_kubectl_are_linked(tmp_path: Path) -> None:
    helm, kubectl = tool("helm"), tool("kubectl")
    assert helm.parent == kubectl.parent
    proc = _link_installed(str(helm.parent), tmp_path / "tools")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "tools" / "helm").resolve() == helm.resolve()
    assert (tmp_path / "tools" / "kubectl").resolve() == kubectl.resolve()
