"""Import a service's entry points in the running environment; one line per failure.

Run with a service environment's interpreter (it imports nothing from the tests)::

    python import_closure.py --absent pyspark rtad.cli.main 'rtad.generator.*'

A name ending in ``.*`` means the package and every module below it. ``--absent NAME``
asserts that the top-level module NAME cannot be imported here (it is outside the set).
Exit status 1 when an import fails or an absent module is present.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import pkgutil
import sys


def modules_of(name: str) -> list[str]:
    """``pkg.*`` -> the package and every module under it; anything else -> itself."""
    if not name.endswith(".*"):
        return [name]
    package = importlib.import_module(name[:-2])
    below = pkgutil.walk_packages(package.__path__, package.__name__ + ".")
    return [package.__name__] + sorted(info.name for info in below)


def check(names: list[str], absent: list[str]) -> list[str]:
    """Import every module; return one line per problem found."""
    problems: list[str] = []
    for name in names:
        try:
            for module in modules_of(name):
                importlib.import_module(module)
        except ImportError as exc:
            missing = getattr(exc, "name", None) or str(exc)
            problems.append(f"{name}: needs {missing!r}, which is not in this dependency set")
    for module in absent:
        if importlib.util.find_spec(module) is not None:
            problems.append(f"{module} is installed, but it is outside this dependency set")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="+")
    parser.add_argument("--absent", action="append", default=[])
    args = parser.parse_args()
    problems = check(args.modules, args.absent)
    for line in problems:
        sys.stderr.write(line + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
