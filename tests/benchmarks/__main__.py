"""``make bench``: run every ``bench_*.py`` module's ``main()`` in order, or those named.

python -m tests.benchmarks            # all (``make bench`` then renders)
python -m tests.benchmarks replay     # only bench_replay.py
python -m tests.benchmarks render     # docs/benchmarks.md and the README's tables, from the results
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time

import tests.benchmarks as package


def main(argv: list[str]) -> None:
    from tests.benchmarks.render import render

    names = sorted(
        m.name for m in pkgutil.iter_modules(package.__path__) if m.name.startswith("bench_")
    )
    if argv == ["render"]:
        render()
        return
    wanted = [f"bench_{a}" for a in argv] or names
    for name in wanted:
        if name not in names:
            have = ", ".join(n.removeprefix("bench_") for n in names)
            raise SystemExit(f"no benchmark {name.removeprefix('bench_')!r}; have: {have}, render")
        module = importlib.import_module(f"tests.benchmarks.{name}")
        settle()
        module.main()


def settle(most_s: float = 120.0) -> None:
    """Wait (up to ``most_s``) until the 1-minute load average is below the core count, so a
    benchmark does not start in the load the one before it left."""
    cores = os.cpu_count() or 1
    deadline = time.monotonic() + most_s
    if os.getloadavg()[0] >= cores:
        print(f"waiting for the load average ({os.getloadavg()[0]:.1f}) to fall below {cores}")
    while os.getloadavg()[0] >= cores and time.monotonic() < deadline:
        time.sleep(5)


if __name__ == "__main__":
    main(sys.argv[1:])
