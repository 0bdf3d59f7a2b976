"""The real pipeline (redis-server, ``rtad stream``, ``rtad serve``) as processes a test drives.

Used by the system tests (faults, detection) and by ``make bench``'s end-to-end benchmark:
start the parts, replay a file, kill -9 a part, start it again, read what came out.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis

from rtad.cli.launch_plan import child_env, rtad_command
from rtad.cli.supervisor import Child, ChildSpec, Supervisor
from rtad.common.encoding import decode
from rtad.common.local_redis import LocalRedis, free_port
from rtad.common.streams import StreamNames


@dataclass
class Pipeline:
    """One pipeline under test: its own Redis, Spark job and scorers, in ``workdir``."""

    workdir: Path
    shards: int = 4
    appendonly: bool = False
    password: str | None = None
    model: Path | None = None
    trigger_interval: str | None = None
    max_records_per_batch: int | None = None
    redis: LocalRedis | None = None
    children: dict[str, Child] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.supervisor = Supervisor(self.workdir / "logs")
        self.names = StreamNames(shards=self.shards)
        self.scorer_ports: dict[str, int] = {}

    # ------------------------------------------------------------------ lifecycle

    def start_redis(self) -> LocalRedis:
        if self.redis is None:
            self.redis = LocalRedis(
                self.workdir / "redis", appendonly=self.appendonly, password=self.password
            )
        self.redis.start()
        return self.redis

    @property
    def url(self) -> str:
        assert self.redis is not None, "start_redis() first"
        return self.redis.url

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def env(self, **extra: str) -> dict[str, str]:
        return {**child_env(self.url, self.names), **extra}

    def start_stream(self, name: str = "stream", available_now: bool = False) -> Child:
        args = ["stream", "--master", "local[2]", "--checkpoint-dir", str(self.workdir / "ckpt")]
        if available_now:
            args.append("--available-now")
        if self.trigger_interval:
            args += ["--trigger-interval", self.trigger_interval]
        if self.max_records_per_batch:
            args += ["--max-records-per-batch", str(self.max_records_per_batch)]
        return self._start(ChildSpec(name, rtad_command(*args), env=self.env(), stop_timeout=20))

    def start_scorer(self, name: str = "scorer", **env: str) -> Child:
        port = free_port()
        self.scorer_ports[name] = port
        args = ["serve", "--port", str(port)]
        if self.model is not None:
            args += ["--model", str(self.model)]
        spec = ChildSpec(name, rtad_command(*args), env=self.env(**env), stop_timeout=10)
        return self._start(spec)

    def _start(self, spec: ChildSpec) -> Child:
        child = self.supervisor.start(spec)
        self.children[spec.name] = child
        return child

    def kill(self, name: str) -> None:
        """SIGKILL a part and everything it started (its JVM too), as a crash would."""
        child = self.children.pop(name)
        child.stopping = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.process.wait(10)

    def stop(self) -> None:
        self.supervisor.stop_all()
        self.children.clear()
        if self.redis is not None:
            self.redis.stop()

    def __enter__(self) -> Pipeline:
        self.start_redis()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ input and output

    def replay(self, path: Path, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            rtad_command("replay", str(path), *extra),
            env=self.env(),
            capture_output=True,
            text=True,
            check=check,
            timeout=600,
        )

    def count(self, kind: str) -> int:
        client = self.client()
        return sum(int(client.xlen(k)) for k in self.names.all(kind))  # type: ignore[arg-type]

    def added(self, kind: str) -> int:
        """Entries ever added to a stream kind (trimming does not lower it)."""
        client = self.client()
        total = 0
        for key in self.names.all(kind):  # type: ignore[arg-type]
            if client.exists(key):
                total += int(client.xinfo_stream(key)["entries-added"])
        return total

    def read_all(self, kind: str) -> list[dict]:
        client = self.client()
        out: list[dict] = []
        for key in self.names.all(kind):  # type: ignore[arg-type]
            for _id, fields in client.xrange(key):
                out.append(decode(fields))
        return out

    def wait_for(
        self, condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.5
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = self.supervisor.first_exit()
            if exited is not None and exited.name in self.children:
                message = f"{exited.describe()} while waiting for {what}"
                raise AssertionError(f"{message}:\n{exited.tail}")
            if condition():
                return
            time.sleep(poll)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
