"""A local Prometheus for ``rtad up``: a generated scrape config and the child that runs it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rtad.cli.supervisor import ChildSpec

SCRAPE_INTERVAL_S = 2


@dataclass(frozen=True)
class ScrapeTarget:
    """One service to scrape: its job name, ``host:port`` and metrics path."""

    job: str
    address: str
    path: str = "/metrics"


def scrape_config(targets: list[ScrapeTarget], interval_s: int = SCRAPE_INTERVAL_S) -> dict:
    """The Prometheus configuration: every target every ``interval_s`` seconds.

    >>> scrape_config([ScrapeTarget("scorer", "127.0.0.1:8000")])["scrape_configs"][0]["job_name"]
    'scorer'
    """
    return {
        "global": {"scrape_interval": f"{interval_s}s", "evaluation_interval": f"{interval_s}s"},
        "scrape_configs": [
            {
                "job_name": target.job,
                "metrics_path": target.path,
                "static_configs": [
                    {"targets": [target.address], "labels": {"service": target.job}}
                ],
            }
            for target in targets
        ],
    }


def prometheus_child(
    binary: str, workdir: Path, port: int, targets: list[ScrapeTarget]
) -> ChildSpec:
    """Write the config under ``workdir`` (data there too) and describe the child to run."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    # JSON is YAML: no YAML writer needed, and the file stays readable.
    config.write_text(json.dumps(scrape_config(targets), indent=2) + "\n")
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'data'}",
        "--storage.tsdb.retention.time=1d",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    return ChildSpec("prometheus", argv, stop_timeout=5.0)
