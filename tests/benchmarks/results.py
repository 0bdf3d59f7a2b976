"""One results file per benchmark: ``docs/benchmarks/results/<name>.json``.

Each file holds the figures, the parameters they were measured with, the command that
reproduces them and the machine they ran on (cores, load average before and after), so the
rendered tables (``python -m tests.benchmarks render``) can say how far to trust them.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = ROOT / "docs" / "benchmarks" / "results"
FORMAT = 1


def machine(load_before: float | None = None) -> dict[str, Any]:
    """Cores, processor, Python and the load average (1 min) before and after a run."""
    return {
        "cores": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "load_average_before": None if load_before is None else round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
    }


def write(
    name: str,
    figures: Any,
    parameters: dict[str, Any],
    load_before: float | None = None,
    directory: Path = RESULTS_DIR,
    command: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``<directory>/<name>.json`` and return its path.

    ``command`` reproduces the figures (default ``python -m tests.benchmarks <name>``);
    ``extra`` holds more top-level keys (a title, the data, targets, single runs).
    """
    document = {
        "format": FORMAT,
        "benchmark": name,
        "command": command or f"python -m tests.benchmarks {name}",
        "parameters": parameters,
        "machine": machine(load_before),
        "figures": figures,
        **(extra or {}),
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    path.write_text(json.dumps(document, indent=2, default=float, ensure_ascii=False) + "\n")
    return path


def read_all(directory: Path = RESULTS_DIR) -> dict[str, dict[str, Any]]:
    """Every results file of ``directory`` by benchmark name (sorted by name)."""
    return {
        path.stem: json.loads(path.read_text())
        for path in sorted(directory.glob("*.json"))
        if path.is_file()
    }


def load_now() -> float:
    """The 1-minute load average now (record it before a run)."""
    return os.getloadavg()[0]
