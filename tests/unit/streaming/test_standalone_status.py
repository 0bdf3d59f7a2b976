"""The standalone cluster's status poll against a real local HTTP server (no Spark): an answer
that is not JSON means the master is not up yet, not a crash of the caller."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.spark_standalone import StandaloneCluster


class _Page(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def page() -> Iterator[tuple[int, type[_Page]]]:
    handler = type("Page", (_Page,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], handler
    server.shutdown()
    server.server_close()


def test_an_html_answer_is_not_up_yet_and_json_is_the_status(
    page: tuple[int, type[_Page]], tmp_path: Path
) -> None:
    port, handler = page
    cluster = StandaloneCluster(tmp_path, master_ui_port=port)
    handler.body = b"<html><body>Spark Master starting</body></html>"
    assert cluster.state() is None
    assert cluster.alive_workers() == 0
    handler.body = b'{"workers": [{"state": "ALIVE"}, {"state": "DEAD"}]}'
    assert cluster.state() == {"workers": [{"state": "ALIVE"}, {"state": "DEAD"}]}
    assert cluster.alive_workers() == 1


def test_nothing_listening_is_not_up_yet(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    port = server.server_address[1]
    server.server_close()  # the port is free again: connection refused
    assert StandaloneCluster(tmp_path, master_ui_port=port).state() is None
