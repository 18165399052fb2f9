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
