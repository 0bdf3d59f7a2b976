"""What ``rtad up`` runs: each child's command line, environment and ports, and the URLs.

Children run ``python -m rtad.cli.main`` with the interpreter of ``rtad up`` itself, so they
use the same installation whatever is on PATH; Spark's workers use it too (PYSPARK_PYTHON).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from rtad.cli.prometheus_local import ScrapeTarget, prometheus_child
from rtad.cli.supervisor import ChildSpec
from rtad.common.local_redis import free_port
from rtad.common.settings import mask_url
from rtad.common.streams import StreamNames

HOST = "127.0.0.1"
SPARK_MASTER = "local[2]"
#: Seconds each child gets to stop after SIGTERM; their sum stays under the 30 s promise.
STOP_TIMEOUTS = {"generator": 4.0, "stream": 14.0, "scorer": 5.0, "prometheus": 3.0}


@dataclass(frozen=True)
class LaunchPlan:
    """The children in start (and stop) order, and the URLs to print."""

    run_dir: Path
    redis_url: str
    names: StreamNames
    children: list[ChildSpec] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)


def child_env(redis_url: str, names: StreamNames) -> dict[str, str]:
    """The environment of every child: this one, pointed at the pipeline's Redis and streams."""
    env = {k: v for k, v in os.environ.items() if k != "RTAD_METRICS_PORT"}
    env.update(
        RTAD_REDIS_URL=redis_url,
        RTAD_SHARDS=str(names.shards),
        RTAD_STREAM_PREFIX=names.prefix,
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        PYTHONUNBUFFERED="1",
    )
    return env


def rtad_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "rtad.cli.main", *args]


def plan_launch(
    *,
    redis_url: str,
    run_dir: Path,
    rate: float,
    port: int,
    names: StreamNames,
    prometheus: str | None,
    model: Path,
) -> LaunchPlan:
    """Ports, commands and URLs for one ``rtad up`` run."""
    env = child_env(redis_url, names)
    generator_port, stream_port, spark_ui_port = (free_port(HOST) for _ in range(3))
    serve_args = ["serve", "--port", str(port), "--model", str(model.resolve())]
    commands = {
        "generator": rtad_command(
            "generate",
            "--rate",
            f"{rate:g}",
            "--metrics-port",
            str(generator_port),
            "--investigators",
        ),
        "stream": rtad_command(
            "stream",
            "--master",
            SPARK_MASTER,
            "--checkpoint-dir",
            str(run_dir / "checkpoint"),
            "--metrics-port",
            str(stream_port),
            "--ui-port",
            str(spark_ui_port),
        ),
        "scorer": rtad_command(*serve_args),
    }
    children = [
        ChildSpec(name, argv, env=env, stop_timeout=STOP_TIMEOUTS[name])
        for name, argv in commands.items()
    ]
    targets = [
        ScrapeTarget("generator", f"{HOST}:{generator_port}"),
        ScrapeTarget("stream", f"{HOST}:{stream_port}"),
        ScrapeTarget("spark", f"{HOST}:{spark_ui_port}", "/metrics/prometheus"),
        ScrapeTarget("scorer", f"{HOST}:{port}"),
    ]
    urls = {
        "live page": f"http://{HOST}:{port}/",
        "API docs": f"http://{HOST}:{port}/docs",
        "scorer metrics": f"http://{HOST}:{port}/metrics",
        "generator metrics": f"http://{HOST}:{generator_port}/metrics",
        "stream metrics": f"http://{HOST}:{stream_port}/metrics",
        "Spark UI": f"http://{HOST}:{spark_ui_port}/",
    }
    if prometheus is not None:
        prometheus_port = free_port(HOST)
        targets.append(ScrapeTarget("prometheus", f"{HOST}:{prometheus_port}"))
        spec = prometheus_child(prometheus, run_dir / "prometheus", prometheus_port, targets)
        children.append(spec)
        urls["prometheus"] = f"http://{HOST}:{prometheus_port}/"
    urls["redis"] = mask_url(redis_url)
    urls["logs"] = str(run_dir / "logs")
    return LaunchPlan(run_dir, redis_url, names, children, urls)
