"""Rebuild ``models/``: generate labelled data, compare every detector, train the champion.

    python -m rtad.ml.build_models            # what `make models` runs

1. ``rtad generate --out DATA`` (seeded: the same command gives the same data);
2. ``rtad compare --data DATA --out models/report`` (time-ordered split, all detectors);
3. ``rtad train --data DATA --out models/champion --detector <the report's champion>``,
   with the champion's held-out figures copied into the model card.

The data file stays outside the repository (``--work-dir``, default a temporary directory).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

log = logging.getLogger("rtad.ml.build_models")


def _rtad(*args: str) -> None:
    """Run one ``rtad`` subcommand with this interpreter; stop on its failure."""
    command = [sys.executable, "-m", "rtad.cli.main", *args]
    log.info("$ rtad %s", " ".join(args))
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        raise SystemExit(f"rtad {args[0]} failed (exit {done.returncode})")


def build(models: Path, work: Path, count: int, customers: int, seed: int) -> dict:
    """Generate, compare, train; returns the comparison summary."""
    data = work / f"generated-seed{seed}.parquet"
    if not data.exists():
        _rtad(
            "generate",
            "--out",
            str(data),
            "--count",
            str(count),
            "--customers",
            str(customers),
            "--seed",
            str(seed),
        )
    report = models / "report"
    _rtad("compare", "--data", str(data), "--out", str(report), "--seed", str(seed))
    summary = json.loads((report / "comparison.json").read_text())
    champion = summary["champion"]
    _rtad(
        "train",
        "--data",
        str(data),
        "--out",
        str(models / "champion"),
        "--detector",
        champion,
        "--seed",
        str(seed),
        "--comparison",
        str(report / "comparison.json"),
    )
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory(prefix="rtad-models-") as scratch:
        work = args.work_dir or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        summary = build(args.models, work, args.count, args.customers, args.seed)
    best = summary["detectors"][summary["champion"]]
    log.info(
        "champion %s: AP %.3f, recall@1%% %.3f (report in %s/report)",
        summary["champion"],
        best["average_precision"],
        best["recall_at_1.0%"],
        args.models,
    )


if __name__ == "__main__":
    main()
