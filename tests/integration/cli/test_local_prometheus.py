"""The generated config in a real Prometheus scraping a real exporter."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import httpx
import pytest

from rtad.cli.prometheus_local import ScrapeTarget, prometheus_child
from rtad.cli.supervisor import ChildSpec, Supervisor
from rtad.common.local_redis import free_port

pytestmark = pytest.mark.e2e

EXPORTER = """
import sys, time
from prometheus_client import Counter, start_http_server
start_http_server(int(sys.argv[1]), addr="127.0.0.1")
Counter("rtad_demo_things_total", "Things.").inc(7)
time.sleep(120)
"""


def test_prometheus_scrapes_the_targets(tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is needed: sudo apt-get install -y prometheus"
    exporter_port, prometheus_port = free_port(), free_port()
    targets = [ScrapeTarget("demo", f"127.0.0.1:{exporter_port}")]
    with Supervisor(tmp_path / "logs") as sup:
        sup.start(ChildSpec("exporter", [sys.executable, "-c", EXPORTER, str(exporter_port)]))
        sup.start(prometheus_child(binary, tmp_path / "prometheus", prometheus_port, targets))
        url = f"http://127.0.0.1:{prometheus_port}/api/v1/query"
        deadline = time.monotonic() + 30
        result: list = []
        while not result and time.monotonic() < deadline:
            time.sleep(1)
            assert sup.first_exit() is None
            try:
                body = httpx.get(url, params={"query": "rtad_demo_things_total"}).json()
            except httpx.TransportError:
                continue
            result = body["data"]["result"]
        assert result, "no sample scraped in 30 s"
        assert result[0]["metric"]["job"] == "demo"
        assert result[0]["metric"]["service"] == "demo"
        assert float(result[0]["value"][1]) == 7
    assert (tmp_path / "prometheus" / "data").is_dir()
