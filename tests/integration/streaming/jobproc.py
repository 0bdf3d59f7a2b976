"""``rtad stream`` as a separate process (what a crash, a restart or a cluster test needs)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import redis
from prometheus_client.parser import text_string_to_metric_families

from rtad.common.local_redis import free_port
from rtad.common.streams import StreamNames


class StreamProcess:
    """One ``rtad stream`` in its own process group (the JVM and Python workers included)."""

    def __init__(self, redis_url: str, checkpoint: Path, log: Path, *args: str) -> None:
        self.metrics_port = free_port()
        rtad = Path(sys.executable).with_name("rtad")
        command = [str(rtad), "stream", "--checkpoint-dir", str(checkpoint)]
        command += ["--metrics-port", str(self.metrics_port), *args]
        env = {**os.environ, "RTAD_REDIS_URL": redis_url, "RTAD_SHARDS": "4"}
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )

    def metric(self, name: str) -> float | None:
        """Sum of a metric's samples on the job's exporter, None while it does not answer."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                text = response.read().decode()
        except OSError:
            return None
        values = [
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == name
        ]
        return sum(values) if values else None

    def wait_for(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if self.process.poll() is not None:
                code = self.process.returncode
                raise AssertionError(f"rtad stream exited ({code}): {self.tail()}")
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}: {self.tail()}")

    def crash(self) -> None:
        """SIGKILL the whole process group, as an OOM kill or a node loss would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM (what Kubernetes sends) and wait for the exit code."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self.kill_leftovers()

    def kill_leftovers(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]


def feature_ids(client: redis.Redis, names: StreamNames) -> list[str]:
    """Transaction ids of every feature entry, duplicates kept."""
    import orjson

    return [
        orjson.loads(fields[b"d"])["transaction_id"]
        for shard in range(names.shards)
        for _, fields in client.xrange(names.key("features", shard))
    ]


def feature_count(client: redis.Redis, names: StreamNames) -> int:
    return sum(int(client.xlen(names.key("features", s))) for s in range(names.shards))
