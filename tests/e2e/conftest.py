"""Fixtures of the end-to-end tests: run the real ``rtad up`` as a process and clean up after it."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
URL_LINE = re.compile(r"^\s{2}(?P<label>[A-Za-z][A-Za-z ]+?)\s{2,}(?P<url>\S+)\s*$")


@dataclass
class UpRun:
    """One ``rtad up`` process (in its own session, as a shell would start it)."""

    process: subprocess.Popen[bytes]
    run_dir: Path
    out_path: Path
    err_path: Path
    seen: set[int] = field(default_factory=set)

    @property
    def out(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def err(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_for_line(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first stdout line matching ``pattern``; fails early if ``rtad up`` exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.remember_processes()
            match = re.search(pattern, self.out, re.MULTILINE)
            if match:
                return match
            if self.process.poll() is not None:
                raise AssertionError(
                    f"rtad up exited with {self.process.returncode} before {pattern!r}:\n"
                    f"{self.out}\n{self.err}\n{self.log_tails()}"
                )
            time.sleep(0.5)
        raise AssertionError(f"no line {pattern!r} in {timeout}s:\n{self.out}\n{self.log_tails()}")

    def urls(self) -> dict[str, str]:
        found = {}
        for line in self.out.splitlines():
            match = URL_LINE.match(line)
            if match:
                found[match["label"]] = match["url"]
        return found

    def remember_processes(self) -> list[psutil.Process]:
        """Every descendant now, also remembered to check later that none is left."""
        try:
            procs = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        self.seen.update(p.pid for p in procs)
        return procs

    def leftovers(self) -> list[str]:
        """Processes started by this run still alive (by pid seen, or by the run dir)."""
        left = []
        for proc in psutil.process_iter(["pid", "cmdline", "status"]):
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(proc.info["cmdline"] or [])
            if proc.info["pid"] in self.seen or str(self.run_dir) in cmdline:
                left.append(f"{proc.info['pid']}: {cmdline[:160]}")
        return left

    def log_tails(self, lines: int = 12) -> str:
        parts = []
        for log in sorted((self.run_dir / "logs").glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def kill_everything(self) -> None:
        """Last-resort clean-up: SIGKILL ``rtad up``'s group and every process it started."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        for pid in self.seen:
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()
        self.process.wait(10)


def launch_up(args: list[str], run_dir: Path, env: dict[str, str] | None = None) -> UpRun:
    """Start ``rtad up`` with ``args``; its run dir and output files in ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    out_path = run_dir.parent / f"{run_dir.name}.out"
    err_path = run_dir.parent / f"{run_dir.name}.err"
    base = {k: v for k, v in os.environ.items() if not k.startswith("RTAD_")}
    base["PYTHONUNBUFFERED"] = "1"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "rtad.cli.main", "up", "--run-dir", str(run_dir), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=base | (env or {}),
            cwd=REPO_ROOT,  # where the champion model is (models/champion)
            start_new_session=True,
        )
    return UpRun(process, run_dir, out_path, err_path)


@pytest.fixture
def up_factory(tmp_path: Path) -> Iterator[Callable[..., UpRun]]:
    """Start ``rtad up`` processes; whatever is still running at the end is killed."""
    runs: list[UpRun] = []

    def start(*args: str, env: dict[str, str] | None = None, name: str = "run") -> UpRun:
        run = launch_up(list(args), tmp_path / name, env)
        runs.append(run)
        return run

    yield start
    for run in runs:
        if run.process.poll() is None or run.leftovers():
            run.kill_everything()


def finished(run: UpRun, timeout: float) -> int:
    """``rtad up``'s exit code, waiting at most ``timeout`` seconds."""
    try:
        return run.process.wait(timeout)
    except subprocess.TimeoutExpired:
        run.kill_everything()
        raise AssertionError(f"rtad up still running after {timeout}s:\n{run.out}") from None
