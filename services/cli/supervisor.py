"""Run child processes, notice the one that dies, and stop them all in order.

Each child runs in its own process group (its own session), so a Ctrl-C at the terminal
reaches only ``rtad up``, which then stops the children one by one in a chosen order:
SIGTERM to the child itself (so a Spark driver can stop its query before its JVM goes),
SIGKILL to its whole group after a timeout, then whatever descendants are still alive.
Children also get SIGTERM from the kernel if ``rtad up`` itself dies (``PR_SET_PDEATHSIG``),
so even a SIGKILL of the supervisor leaves nothing running.

>>> # with Supervisor(run_dir) as sup: sup.start(ChildSpec("sleeper", ["sleep", "60"]))
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from rtad.common.processes import die_with_parent

LEFTOVER_GRACE_S = 2.0


@dataclass(frozen=True)
class ChildSpec:
    """What to run: a name (also the log file's), the command line, its env and stop timeout."""

    name: str
    argv: list[str]
    env: Mapping[str, str] | None = None
    stop_timeout: float = 5.0
    cwd: Path | None = None


@dataclass(frozen=True)
class ChildExit:
    """A child that exited on its own: who, with which code, and the end of its log."""

    name: str
    returncode: int
    log_path: Path
    tail: str

    def describe(self) -> str:
        how = (
            f"was killed by signal {-self.returncode}"
            if self.returncode < 0
            else f"exited with code {self.returncode}"
        )
        return f"{self.name} {how} (log: {self.log_path})"


def tail_lines(path: Path, lines: int = 15, max_bytes: int = 16_384) -> str:
    """The last ``lines`` lines of a (log) file, read from its end only."""
    if not path.exists():
        return ""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - max_bytes))
        text = handle.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Child:
    """One running child process with its log file."""

    spec: ChildSpec
    log_path: Path
    process: subprocess.Popen[bytes]
    stopping: bool = False

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.poll()

    def stop(self, timeout: float | None = None) -> int:
        """SIGTERM, wait, SIGKILL the group; then end any descendant left. Returns the code."""
        self.stopping = True
        timeout = self.spec.stop_timeout if timeout is None else timeout
        descendants = self._descendants()
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(max(timeout, 0.1))
            except subprocess.TimeoutExpired:
                self._kill_group()
                self.process.wait()
        _end_all(descendants + self._group_members())
        return self.process.returncode

    def _descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            return []

    def _group_members(self) -> list[psutil.Process]:
        """Processes still in the child's group (re-parented to init when the leader exited)."""
        members = []
        for proc in psutil.process_iter(["pid"]):
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                if os.getpgid(proc.pid) == self.pid and proc.pid != os.getpid():
                    members.append(proc)
        return members

    def _kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)


def _end_all(procs: list[psutil.Process]) -> None:
    """SIGTERM what is still alive, then SIGKILL what ignored it."""
    alive = [p for p in procs if _alive(p)]
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, stubborn = psutil.wait_procs(alive, timeout=LEFTOVER_GRACE_S)
    for proc in stubborn:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(stubborn, timeout=LEFTOVER_GRACE_S)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@dataclass
class Supervisor:
    """Start children with their logs in ``log_dir``; stop them in start order."""

    log_dir: Path
    children: list[Child] = field(default_factory=list)

    def start(self, spec: ChildSpec) -> Child:
        """Start one child in its own session, stdout and stderr to ``<log_dir>/<name>.log``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{spec.name}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                spec.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(spec.env) if spec.env is not None else None,
                cwd=spec.cwd,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        child = Child(spec=spec, log_path=log_path, process=process)
        self.children.append(child)
        return child

    def first_exit(self, tail: int = 15) -> ChildExit | None:
        """The first child found to have exited while it was meant to run, if any."""
        for child in self.children:
            code = child.poll()
            if code is not None and not child.stopping:
                child.stopping = True  # reported once
                return ChildExit(child.name, code, child.log_path, tail_lines(child.log_path, tail))
        return None

    def stop_all(self, budget: float = 28.0) -> dict[str, int]:
        """Stop every child in start order within ``budget`` seconds; their exit codes."""
        deadline = time.monotonic() + budget
        codes = {}
        for index, child in enumerate(self.children):
            left = deadline - time.monotonic()
            # keep a little time for each child still to stop after this one
            reserve = (len(self.children) - index - 1) * (LEFTOVER_GRACE_S / 2)
            codes[child.name] = child.stop(min(child.spec.stop_timeout, max(left - reserve, 0.5)))
        return codes

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()
