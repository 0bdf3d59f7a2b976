"""``rtad up``: the whole pipeline on this machine, stopped cleanly by Ctrl-C.

Order of things: check everything (ports, Java, redis-server) before starting anything; start
a private Redis (unless ``RTAD_REDIS_URL`` is set), then the generator, the Spark job, the
scorer and Prometheus as child processes with their logs in the run directory; watch them;
on Ctrl-C, SIGTERM, ``--duration`` or a crash, stop them producer-first, Redis last.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import redis
import typer
from rich.console import Console
from rich.live import Live

from rtad.cli import preflight
from rtad.cli.launch_plan import LaunchPlan, plan_launch
from rtad.cli.pipeline_watch import PipelineWatch
from rtad.cli.supervisor import ChildExit, Supervisor
from rtad.common.errors import RtadError
from rtad.common.local_redis import LocalRedis
from rtad.common.redis_streams import connect
from rtad.common.settings import RtadSettings, mask_url
from rtad.common.stopping import stop_on_signals
from rtad.common.streams import StreamNames

console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)
REDIS_STOP_TIMEOUT_S = 2.0


def up(
    rate: Annotated[
        float, typer.Option(min=1, help="Generator rate, transactions per second.")
    ] = 2000.0,
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Scorer HTTP port (live page at /).")
    ] = 8000,
    shards: Annotated[
        int | None, typer.Option(min=1, max=1024, help="Shards of every stream [RTAD_SHARDS].")
    ] = None,
    run_dir: Annotated[
        Path | None, typer.Option(help="Logs, checkpoints, Redis and Prometheus data.")
    ] = None,
    no_prometheus: Annotated[
        bool, typer.Option("--no-prometheus", help="Do not start Prometheus.")
    ] = False,
    duration: Annotated[
        float | None, typer.Option(min=1, help="Stop by itself after this many seconds.")
    ] = None,
    model: Annotated[Path | None, typer.Option(help="Model artifact (default: champion).")] = None,
) -> None:
    """Run everything at once on this machine: Redis, generator, Spark, scorer, Prometheus."""
    settings = RtadSettings()
    external_redis, model, prometheus = _preflight(settings, port, model, not no_prometheus)
    run_dir = (run_dir or Path(tempfile.mkdtemp(prefix="rtad-up-"))).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    with stop_on_signals() as stop, _redis(external_redis, run_dir) as redis_url:
        plan = plan_launch(
            redis_url=redis_url,
            run_dir=run_dir,
            rate=rate,
            port=port,
            names=StreamNames(settings.stream_prefix, shards or settings.shards),
            prometheus=prometheus,
            model=model,
        )
        crashed = _run(plan, stop, duration)
    sys.stdout.flush()
    if crashed is not None:
        errors.print(f"[bold red]{crashed.name} failed[/]; last lines of {crashed.log_path}:")
        errors.print(crashed.tail, markup=False)
        raise RtadError(f"{crashed.describe()}; everything else was stopped")
    console.print(f"stopped; logs in {run_dir}")


def _preflight(
    settings: RtadSettings, port: int, model: Path | None, want_prometheus: bool
) -> tuple[str | None, Path, str | None]:
    """Every check before anything starts: the external broker, the model, Prometheus."""
    # A broker given in the environment is used as it is; otherwise a private one is started.
    external_redis = (
        settings.redis_url.get_secret_value() if "redis_url" in settings.model_fields_set else None
    )
    preflight.check_port_free(port)
    preflight.check_java()
    preflight.check_redis(external_redis)
    model_path = preflight.check_model(model)
    prometheus = preflight.find_prometheus(want_prometheus)
    if want_prometheus and prometheus is None:
        errors.print(
            f"note: prometheus not found, running without it ({preflight.PROMETHEUS_HINT})"
        )
    return external_redis, model_path, prometheus


def _run(plan: LaunchPlan, stop: threading.Event, duration: float | None) -> ChildExit | None:
    """Start the children, watch them until a stop or a crash, stop them all; the crash."""
    supervisor = Supervisor(plan.run_dir / "logs")
    try:
        for spec in plan.children:
            supervisor.start(spec)
        _print_urls(plan)
        return _watch(plan, supervisor, stop, duration)
    finally:
        names = ", ".join(child.name for child in supervisor.children)
        console.print(f"stopping {names}, then redis…")
        for name, code in supervisor.stop_all().items():
            if code == -signal.SIGKILL:
                console.print(f"{name} did not stop in time after SIGTERM: killed")


def _watch(
    plan: LaunchPlan, supervisor: Supervisor, stop: threading.Event, duration: float | None
) -> ChildExit | None:
    """Show progress until Ctrl-C/SIGTERM, ``duration`` or a child's exit (returned)."""
    client = connect(plan.redis_url, attempts=3)
    watch = PipelineWatch(client, plan.names)
    deadline = None if duration is None else time.monotonic() + duration
    try:
        with Live(watch.render(), console=console, refresh_per_second=4, transient=True) as live:
            while not stop.wait(0.5):
                crashed = supervisor.first_exit()
                if crashed is not None:
                    return crashed
                if deadline is not None and time.monotonic() >= deadline:
                    console.print(f"--duration {duration:g} s reached")
                    return None
                for stage in _sample(watch):
                    _announce(watch, stage, plan)
                live.update(watch.render())
    finally:
        client.close()
    console.print("stop requested")
    return None


def _sample(watch: PipelineWatch) -> list[str]:
    try:
        return watch.sample()
    except redis.RedisError as exc:
        raise RtadError(f"lost the connection to Redis: {exc}") from None


ANNOUNCEMENTS = {
    "generator": "generator: first transactions",
    "spark": "spark: first features",
    "scorer": "scorer: first scores",
    "alerts": "first alerts",
    "dead letters": "first dead letters (`rtad export deadletter --out FILE` says why)",
}


def _announce(watch: PipelineWatch, stage: str, plan: LaunchPlan) -> None:
    """One line when a stage produces its first entries (readable in logs, not only a TTY)."""
    console.print(f"{ANNOUNCEMENTS[stage]} after {watch.first_seen[stage]:.1f} s")
    if stage == "scorer":
        console.print(f"[bold green]ready[/]: scores are flowing — open {plan.urls['live page']}")


def _print_urls(plan: LaunchPlan) -> None:
    console.print(f"[bold]rtad up[/] — run dir {plan.run_dir}")
    for label, url in plan.urls.items():
        console.print(f"  {label:<18} {url}")
    console.print("  Ctrl-C stops everything.")


@contextlib.contextmanager
def _redis(external_url: str | None, run_dir: Path) -> Iterator[str]:
    """The broker's URL: the external one, or a private redis-server stopped last."""
    if external_url:
        console.print(f"using Redis at {mask_url(external_url)}")
        yield external_url
        return
    server = LocalRedis(run_dir / "redis")
    # Blocked SIGINT is inherited: a Ctrl-C at the terminal reaches the whole foreground
    # process group, and Redis must outlive the children that still ack their last batch.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        server.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    try:
        yield server.url
    finally:
        server.stop(timeout=REDIS_STOP_TIMEOUT_S)
