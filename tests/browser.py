"""Headless Chromium for looking at what uchi shows a person (Debian's package, installed on demand)."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    found = shutil.which("chromium")
    if found:
        return found
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium", "fonts-noto-cjk"]):
        if subprocess.run(command, env=env, capture_output=True, timeout=900).returncode != 0:
            pytest.skip("chromium is not installed and apt-get could not install it")
    return shutil.which("chromium")


def _run(args: list[str]) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=120)


def dump_dom(page: Path) -> str:
    return _run(["--dump-dom", page.as_uri()]).stdout


def screenshot(page: Path, out: Path, size: str = "1100,2400") -> Path:
    _run([f"--screenshot={out}", f"--window-size={size}", page.as_uri()])
    return out


class Page:
    """One headless Chromium tab driven over the DevTools protocol: navigate, run JavaScript, press keys,
    send extra headers (what an SSO proxy adds), take screenshots. Loopback only; closed by close()."""

    def __init__(self, headers: dict[str, str] | None = None):
        import json
        import re
        import time
        import urllib.request

        from websockets.sync.client import connect

        self._json, self._profile = json, tempfile.TemporaryDirectory()
        self.process = subprocess.Popen([chromium(), *FLAGS, "--remote-debugging-port=0", "--window-size=1200,1400",
                                         f"--user-data-dir={self._profile.name}", "about:blank"],
                                        stderr=subprocess.PIPE, text=True)
        deadline, port = time.monotonic() + 60, None
        while port is None and time.monotonic() < deadline:
            found = re.search(r"ws://127\.0\.0\.1:(\d+)/", self.process.stderr.readline())
            port = found and found.group(1)
        if port is None:
            self.close()
            raise RuntimeError("chromium did not open its DevTools port")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as listing:
            target = next(t for t in json.load(listing) if t["type"] == "page")
        self.socket = connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=10).__enter__()
        self._id = 0
        self.send("Page.enable")
        self.send("Network.enable")
        if headers:
            self.headers(headers)

    def send(self, method: str, **params) -> dict:
        self._id += 1
        self.socket.send(self._json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = self._json.loads(self.socket.recv(timeout=60))
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def headers(self, headers: dict[str, str]) -> None:
        self.send("Network.setExtraHTTPHeaders", headers=headers)

    def js(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait(self, expression: str, timeout: float = 30) -> None:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.js(f"document.readyState === 'complete' && !!({expression})"):
                    return
            except RuntimeError:
                pass  # the page is navigating
            time.sleep(0.05)
        raise TimeoutError(f"{expression} at {self.js('location.href')}")

    def go(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self.wait(f"location.href === {self._json.dumps(url)}")

    def key(self, key: str) -> None:
        for kind in ("keyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", type=kind, key=key, text=key if kind == "keyDown" else "")

    def dom(self) -> str:
        return self.js("document.documentElement.outerHTML")

    def screenshot(self, out: Path) -> Path:
        import base64

        out.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png",
                                                   captureBeyondViewport=True)["data"]))
        return out

    def close(self) -> None:
        try:
            self.socket.close()
        except AttributeError:
            pass
        self.process.terminate()
        self.process.wait(timeout=10)
        self._profile.cleanup()
