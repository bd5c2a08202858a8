"""A headless Chromium driven over the DevTools protocol, for testing report.html.

``ensure_chromium()`` finds Debian's ``chromium`` or installs it (``apt-get``, only as
root -- which CI is); otherwise the calling test is skipped with the reason.
``load_page()`` opens a URL at a laptop-sized viewport and returns what a reviewer
needs: console errors and uncaught exceptions, every request the page made, the
result of a JavaScript probe of the DOM, and a full-page PNG screenshot.

Uses ``websocket-client`` (PyPI) for the DevTools websocket.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
]


def ensure_chromium() -> str:
    """The chromium executable; installs Debian's package when missing and root."""
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if found:
        return found
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(
            "chromium is not installed and this is not a root Debian shell that could "
            "install it: run `apt-get install -y chromium` (CI runs as root and does)"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "chromium"],
    ):
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1200)
        if result.returncode != 0:
            pytest.fail(
                f"{' '.join(command)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )
    found = shutil.which("chromium")
    if not found:
        pytest.fail("apt-get installed chromium but no `chromium` is on PATH")
    return found


@dataclass
class PageReport:
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    probe: Any = None
    screenshot: Path | None = None


class DevTools:
    """A minimal synchronous DevTools client: commands in order, events collected."""

    def __init__(self, ws_url: str, timeout: float) -> None:
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        ident = self.next_id
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(m.get("method") == event for m in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {event} within {timeout} s")
            self.events.append(json.loads(self.ws.recv()))

    def close(self) -> None:
        self.ws.close()


def _start(chromium: str, profile: Path, timeout: float) -> tuple[subprocess.Popen, int]:
    log = open(profile.parent / "chromium.log", "wb")  # noqa: SIM115 -- lives with the process
    process = subprocess.Popen(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"chromium exited ({process.returncode}): "
                f"{(profile.parent / 'chromium.log').read_text(errors='replace')[-2000:]}"
            )
        if port_file.is_file():
            lines = port_file.read_text().split()
            if lines:
                return process, int(lines[0])
        time.sleep(0.1)
    _stop(process)
    raise TimeoutError(f"chromium wrote no DevToolsActivePort within {timeout} s")


def _stop(process: subprocess.Popen) -> None:
    """End the browser this helper started (its own process group, by id)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    try:  # helpers (zygote, renderer) share the group; make sure none outlives us
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def load_page(
    url: str,
    screenshot: Path,
    probe_js: str = "null",
    width: int = 1366,
    height: int = 900,
    timeout: float = 60.0,
) -> PageReport:
    """Open ``url`` in a fresh headless Chromium and report what happened."""
    chromium = ensure_chromium()
    with tempfile.TemporaryDirectory(prefix="jpegai-chromium-") as tmp:
        profile = Path(tmp) / "profile"
        profile.mkdir()
        process, port = _start(chromium, profile, timeout)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as r:
                targets = json.loads(r.read())
            page = next(t for t in targets if t.get("type") == "page")
            tools = DevTools(page["webSocketDebuggerUrl"], timeout)
            try:
                for domain in ("Page", "Runtime", "Log", "Network"):
                    tools.send(f"{domain}.enable")
                tools.send(
                    "Emulation.setDeviceMetricsOverride",
                    width=width,
                    height=height,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                tools.events.clear()
                tools.send("Page.navigate", url=url)
                tools.wait_for("Page.loadEventFired", timeout)
                probe = tools.send("Runtime.evaluate", expression=probe_js, returnByValue=True)[
                    "result"
                ].get("value")
                metrics = tools.send("Page.getLayoutMetrics")
                size = metrics.get("cssContentSize") or metrics["contentSize"]
                shot = tools.send(
                    "Page.captureScreenshot",
                    format="png",
                    captureBeyondViewport=True,
                    clip={
                        "x": 0,
                        "y": 0,
                        "width": width,
                        "height": min(size["height"], 16000),
                        "scale": 1,
                    },
                )
                screenshot.write_bytes(base64.b64decode(shot["data"]))
                # Let late events (images decoding, console messages) arrive.
                tools.send("Runtime.evaluate", expression="1", returnByValue=True)
                events = list(tools.events)
            finally:
                tools.close()
        finally:
            _stop(process)
    report = PageReport(probe=probe, screenshot=screenshot)
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            report.console_errors.append(
                " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            )
        elif method == "Runtime.exceptionThrown":
            report.console_errors.append(json.dumps(params.get("exceptionDetails", {}))[:500])
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            report.console_errors.append(params["entry"].get("text", ""))
        elif method == "Network.requestWillBeSent":
            report.requests.append(params["request"]["url"])
    return report
