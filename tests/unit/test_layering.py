"""The packages import each other only downwards: common, then features, then ml and streaming.

Read from the sources with ``ast`` (imports inside functions count too), so a hidden import
cannot slip through.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "services"

#: The rtad packages each package may import (itself always).
ALLOWED: dict[str, set[str]] = {
    "common": set(),
    "features": {"common"},
    "generator": {"common"},
    # ml's comparisons simulate data and investigators with the generator (development and
    # reports, never an image); training reads files and streams through common only.
    "ml": {"common", "features", "generator"},
    "streaming": {"common", "features"},
    "scorer": {"common", "features", "ml"},
    "cli": {"common", "features", "generator", "ml", "scorer", "streaming"},
}


def rtad_imports(path: Path) -> set[str]:
    """The rtad packages a source file imports (``rtad.<package>``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
            if node.module == "rtad":
                # ``from rtad import __version__`` names the root, not a package
                modules = [f"rtad.{a.name}" for a in node.names if not a.name.startswith("__")]
        else:
            continue
        found |= {m.split(".")[1] for m in modules if m.startswith("rtad.")}
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_layers_below(package: str) -> None:
    sources = sorted((SERVICES / package).rglob("*.py"))
    assert sources, f"no sources under services/{package}"
    wrong = {
        f"{path.relative_to(SERVICES)} imports rtad.{other}"
        for path in sources
        for other in rtad_imports(path) - ALLOWED[package] - {package}
    }
    assert not wrong, sorted(wrong)


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    source = tmp_path / "sneaky.py"
    source.write_text("def f():\n    from rtad.streaming.job import main\n    import rtad.ml\n")
    assert rtad_imports(source) == {"streaming", "ml"}
