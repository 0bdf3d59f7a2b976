"""What ``rtad up`` checks before it starts anything: each failure is one line saying what to do.

Checking first means a missing Java or a busy port never leaves half a pipeline running.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

from rtad.common.errors import RtadError
from rtad.common.local_redis import INSTALL_HINT as REDIS_HINT
from rtad.common.redis_streams import RedisUnavailable, connect

JAVA_HINT = "sudo apt-get install -y openjdk-17-jre-headless"
PROMETHEUS_HINT = "sudo apt-get install -y prometheus"
MIN_JAVA = 17


class PreflightError(RtadError):
    """Something to install or change before ``rtad up`` can run."""


def check_port_free(port: int, option: str = "--port") -> None:
    """Fail if something listens on ``port`` on any interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As uvicorn does: connections of a previous run in TIME_WAIT do not make it busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))  # the scorer may listen on every interface
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PreflightError(
                    f"port {port} is already in use: stop what uses it or pick another "
                    f"with {option}"
                ) from None
            raise PreflightError(f"cannot use port {port}: {exc.strerror}") from None


def java_binary() -> str | None:
    """The java Spark will run: ``$JAVA_HOME/bin/java`` if set, else ``java`` on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def java_major(binary: str) -> int | None:
    """The major version ``java -version`` reports (``1.8`` counts as 8), None if unreadable."""
    try:
        out = subprocess.run(
            [binary, "-version"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def check_java() -> None:
    """Spark 4 needs Java 17 or newer."""
    binary = java_binary()
    if binary is None:
        raise PreflightError(f"java not found (Spark needs Java {MIN_JAVA}+): {JAVA_HINT}")
    major = java_major(binary)
    if major is None:
        raise PreflightError(f"{binary} -version did not run: {JAVA_HINT}")
    if major < MIN_JAVA:
        raise PreflightError(
            f"java {major} found at {binary}, Spark needs {MIN_JAVA}+: {JAVA_HINT} "
            "(or set JAVA_HOME)"
        )


def check_redis(redis_url: str | None) -> None:
    """An external broker must answer; otherwise ``redis-server`` must be installed."""
    if redis_url:
        try:
            connect(redis_url, attempts=1).close()
        except RedisUnavailable as exc:
            raise PreflightError(
                f"{exc} (fix RTAD_REDIS_URL, or unset it to run a private redis-server)"
            ) from None
    elif shutil.which("redis-server") is None:
        raise PreflightError(f"redis-server not found on PATH: {REDIS_HINT}")


def find_prometheus(wanted: bool) -> str | None:
    """The ``prometheus`` binary if wanted and installed (it is optional)."""
    return shutil.which("prometheus") if wanted else None


def check_model(model: Path | None) -> Path:
    """The model the scorer will load (``--model``, else its settings' default), which must exist.

    Resolved here to an absolute path: the scorer's default is relative to the directory
    ``rtad up`` was started in.
    """
    from rtad.scorer.settings import ScorerSettings

    path = model if model is not None else ScorerSettings().model_path
    if not path.exists():
        raise PreflightError(
            f"no model at {path}: train one with `rtad train --data FILE --out {path}`, "
            "or pass --model"
        )
    return path.resolve()
