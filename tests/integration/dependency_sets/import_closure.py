"""Import a service's entry points in the running environment; one line per failure.

Run with a service environment's interpreter (it needs nothing but the standard library and
the environment under test), or inside a service image with the script on stdin::

    python import_closure.py generator
    docker run -i --rm --entrypoint python rtad-generator:dev - generator < import_closure.py

A module name ending in ``.*`` means the package and every module below it. Each service
also names top-level modules that must NOT be importable: the libraries of other services.
Exit status 1 when an import fails or a library outside the set is present.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import pkgutil
import sys

CORE = ("rtad.cli.main", "rtad.common.*")


def feature_modules() -> str:
    """The per-card feature code the stream job and training share, wherever the tree has it."""
    return "rtad.features.*" if importlib.util.find_spec("rtad.features") else "rtad.ml.card_kernel"


def service_sets() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Service -> (entry points its image runs, libraries it must not carry)."""
    return {
        "generator": (CORE + ("rtad.generator.*",), ("pyspark", "sklearn", "fastapi", "numba")),
        "scorer": (
            CORE + ("rtad.scorer.*", "rtad.ml.model_store"),
            ("pyspark", "py4j", "pyarrow"),
        ),
        "streaming": (
            CORE + ("rtad.streaming.*", feature_modules()),
            ("fastapi", "uvicorn", "sklearn", "skops"),
        ),
        "ml": (CORE + ("rtad.ml.*", feature_modules()), ("pyspark", "fastapi")),
    }


def modules_of(name: str) -> list[str]:
    """``pkg.*`` -> the package and every module under it but ``__main__`` (importing one runs
    it); anything else -> itself."""
    if not name.endswith(".*"):
        return [name]
    package = importlib.import_module(name[:-2])
    below = pkgutil.walk_packages(package.__path__, package.__name__ + ".")
    return [package.__name__] + sorted(
        info.name for info in below if not info.name.endswith(".__main__")
    )


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
    sets = service_sets()
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("service", choices=sorted(sets))
    parser.add_argument("--also-import", action="append", default=[], metavar="MODULE")
    parser.add_argument("--also-absent", action="append", default=[], metavar="MODULE")
    args = parser.parse_args()
    entry_points, absent = sets[args.service]
    problems = check([*entry_points, *args.also_import], [*absent, *args.also_absent])
    for line in problems:
        sys.stderr.write(f"{args.service}: {line}\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
