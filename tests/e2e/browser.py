"""A real headless Chromium driven over the DevTools protocol (no browser download, no Playwright).

``--dump-dom`` with a virtual-time budget never returns while a page holds a Server-Sent
Events connection open (virtual time waits for the network to settle), so the tests open the
page in a headless Chromium and read the live DOM with ``Runtime.evaluate`` instead.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
]


def chromium_binary() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is needed: sudo apt-get install -y chromium"
    return found


class Page:
    """One tab: evaluate JavaScript, wait for a condition, take a screenshot."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.errors: list[str] = []  # uncaught JavaScript exceptions (Runtime.enable)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        request_id = next(self.ids)
        self.socket.send(json.dumps({"id": request_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=30))
            if message.get("method") == "Runtime.exceptionThrown":
                details = message["params"]["exceptionDetails"]
                self.errors.append(details.get("exception", {}).get("description", str(details)))
            if message.get("id") == request_id:
                assert "error" not in message, message
                return message["result"]

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout: float) -> Any:
        """Poll ``expression`` until it is truthy; its last value otherwise (for the message)."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.5)
        raise AssertionError(f"{expression} still {value!r} after {timeout}s")

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path


@contextlib.contextmanager
def open_page(url: str, workdir: Path, size: tuple[int, int] = (1440, 1100)) -> Iterator[Page]:
    """Start a headless Chromium (own profile in ``workdir``), open ``url``, stop it after."""
    profile = workdir / "chromium-profile"
    argv = [chromium_binary(), *FLAGS, f"--user-data-dir={profile}"]
    argv += [f"--window-size={size[0]},{size[1]}", "about:blank"]
    log = (workdir / "chromium.log").open("wb")
    browser = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
    try:
        port = _devtools_port(profile, browser)
        target = _new_tab(port, "about:blank")
        with connect(target["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024) as socket:
            page = Page(socket)
            page.call("Runtime.enable")
            page.call(
                "Emulation.setDeviceMetricsOverride",
                width=size[0],
                height=size[1],
                deviceScaleFactor=1,
                mobile=False,
            )
            page.call("Page.navigate", url=url)
            page.wait_until(
                f"location.href === {json.dumps(url)} && document.readyState === 'complete'", 30
            )
            yield page
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(browser.pid, signal.SIGKILL)
        browser.wait(10)
        log.close()


def _devtools_port(profile: Path, browser: subprocess.Popen[bytes], timeout: float = 30) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker.exists() and marker.read_text().strip():
            return int(marker.read_text().splitlines()[0])
        assert browser.poll() is None, f"chromium exited with {browser.returncode}"
        time.sleep(0.2)
    raise AssertionError("chromium did not open its DevTools port")


def _new_tab(port: int, url: str) -> dict[str, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/json/new?{url}", method="PUT")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local
        return dict(json.load(response))
