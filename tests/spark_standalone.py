"""A real Spark standalone cluster for the tests: master and workers from the pyspark wheel.

The local twin of the chart's master Deployment + worker StatefulSet: the tests start a
master, add workers while a job runs (as ``kubectl scale statefulset …-spark-worker``
does), and stop everything they started. Each process gets its own process group, so stopping
a worker also ends the executor JVMs and Python workers it launched.

>>> # with StandaloneCluster(tmpdir) as cluster:
>>> #     cluster.add_worker(); run_job(master=cluster.master_url); cluster.add_worker()
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtad.common.errors import RtadError
from rtad.common.local_redis import free_port

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


def spark_class() -> Path:
    """``bin/spark-class`` of the installed pyspark wheel."""
    import pyspark

    return Path(os.path.dirname(pyspark.__file__)) / "bin" / "spark-class"


@dataclass
class StandaloneCluster:
    """One master and any number of workers, all bound to ``host``, logs in ``workdir``."""

    workdir: Path
    host: str = "127.0.0.1"
    master_port: int = 0
    master_ui_port: int = 0
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.master_port = self.master_port or free_port(self.host)
        self.master_ui_port = self.master_ui_port or free_port(self.host)

    @property
    def master_url(self) -> str:
        return f"spark://{self.host}:{self.master_port}"

    def start_master(self, timeout: float = 60.0) -> str:
        """Start the master and wait until it answers; returns its ``spark://`` URL."""
        args = ["--host", self.host, "--port", str(self.master_port)]
        self._spawn("master", MASTER_CLASS, [*args, "--webui-port", str(self.master_ui_port)])
        self._wait(lambda: self.state() is not None, timeout, "the Spark master did not start")
        return self.master_url

    def add_worker(self, cores: int = 1, memory: str = "1g", timeout: float = 60.0) -> None:
        """Start one worker and wait until the master counts it alive."""
        before = self.alive_workers()
        name = f"worker-{len(self.processes)}"
        work = self.workdir / name
        work.mkdir(parents=True, exist_ok=True)
        args = ["--host", self.host, "--cores", str(cores), "--memory", memory]
        args += ["--webui-port", str(free_port(self.host)), "--work-dir", str(work)]
        self._spawn(name, WORKER_CLASS, [*args, self.master_url])
        self._wait(lambda: self.alive_workers() > before, timeout, f"{name} did not register")

    def state(self) -> dict[str, Any] | None:
        """The master's JSON status (workers, applications), or None while it is not up.

        While the master's web UI starts, ``/json/`` has been seen to answer with an HTML page
        (a run of the streaming tests failed on it once): that counts as not up yet.
        """
        url = f"http://{self.host}:{self.master_ui_port}/json/"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - local http
                return dict(json.load(response))
        except (OSError, ValueError):  # ValueError: not JSON (json.JSONDecodeError)
            return None

    def alive_workers(self) -> int:
        state = self.state() or {}
        return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")

    def stop(self, timeout: float = 20.0) -> None:
        """Stop every process started here (workers first), each with its process group."""
        for process in reversed(self.processes):
            _stop_group(process, timeout)
        self.processes.clear()

    def _spawn(self, name: str, main_class: str, args: list[str]) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "SPARK_LOCAL_IP": self.host, "SPARK_NO_DAEMONIZE": "1"}
        env["SPARK_LOG_DIR"] = str(self.workdir)
        with open(self.workdir / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                [str(spark_class()), main_class, *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group: executors die with it
            )
        self.processes.append(process)

    def _wait(self, ready: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            if any(p.poll() is not None for p in self.processes):
                break
            time.sleep(0.25)
        self.stop()
        raise RtadError(f"{what} within {timeout:.0f}s (logs in {self.workdir})")

    def __enter__(self) -> StandaloneCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _stop_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the process group of ``process``, SIGKILL it if it lingers."""
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    _signal_group(process, signal.SIGKILL)  # children (executors) may outlive their worker
    process.wait()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
