"""``make bench``: run every ``bench_*.py`` module's ``main()`` in order, or those named.

python -m tests.benchmarks            # all
python -m tests.benchmarks replay     # only bench_replay.py
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import tests.benchmarks as package


def main(argv: list[str]) -> None:
    names = sorted(
        m.name for m in pkgutil.iter_modules(package.__path__) if m.name.startswith("bench_")
    )
    wanted = [f"bench_{a}" for a in argv] or names
    for name in wanted:
        if name not in names:
            raise SystemExit(f"no benchmark {name!r}; have: {', '.join(names)}")
        module = importlib.import_module(f"tests.benchmarks.{name}")
        module.main()


if __name__ == "__main__":
    main(sys.argv[1:])
