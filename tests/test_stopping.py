"""Processes that stop cleanly: vLLM's whole process group goes with `Server.stop`, and the shipped systemd
units are valid (systemd-analyze verify)."""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from uchi import config as config_module
from uchi.serving.server import Server

ROOT = Path(__file__).resolve().parents[1]
# A stand-in for vLLM's process tree: a leader that ignores SIGTERM and a child (its engine core).
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print(child.pid, flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is gone for our purposes
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_stop_kills_the_whole_process_group_even_when_sigterm_is_ignored():
    server = Server(config_module.load())
    server.process = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE,
                                      start_new_session=True, text=True)
    child = int(server.process.stdout.readline())
    started = time.monotonic()
    server.stop(timeout=1.0)
    took = time.monotonic() - started
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(server.process.pid) and not alive(child)
    assert took < 3.0


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed "
                    "(apt-get install systemd)")
def test_systemd_units_verify(tmp_path):
    for unit in sorted((ROOT / "deploy" / "systemd").glob("*.service")):
        # The units name /opt/uchi; verify checks that ExecStart exists, so point them at this checkout.
        text = unit.read_text().replace("/opt/uchi/.venv/bin/uchi", str(Path(sys.executable).parent / "uchi"))
        copy = tmp_path / unit.name
        copy.write_text(text.replace("/opt/uchi", str(ROOT)))
        result = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True,
                                timeout=60)
        problems = [line for line in (result.stdout + result.stderr).splitlines() if unit.stem in line]
        assert result.returncode == 0 and not problems, (unit.name, result.stdout, result.stderr)
    assert {u.name for u in (ROOT / "deploy" / "systemd").glob("*.service")} == {"uchi-serve.service",
                                                                                  "uchi-bot.service"}
