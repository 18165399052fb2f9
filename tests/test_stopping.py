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


# vLLM's stand-in for the supervisor: healthy on /health, with a child (its engine core) deaf to SIGTERM
# that outlives it: the supervisor must kill the rest of the group after the leader exits.
STUB_VLLM = """
import http.server, subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
                          "signal.SIG_IGN); time.sleep(600)"])
open(sys.argv[2], "w").write(f"{child.pid}")
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""
# The real supervisor (uchi serve's loop and signal handling), with vLLM's command line swapped for the stand-in.
SUPERVISE = """
import sys
from pathlib import Path
from uchi import config
from uchi.serving import server, supervisor
server.gpu_count = lambda: 0
server.command = lambda cfg, target, port, gpus: [sys.executable, sys.argv[1], str(port), sys.argv[2]]
supervisor.base_target = lambda cfg: server.Target(Path("."), "base", lora=False)
try:
    supervisor.Supervisor(config.load()).run()
except KeyboardInterrupt:
    pass
"""


def test_sigterm_stops_the_supervisor_its_server_group_and_frees_the_port(tmp_path):
    from conftest import free_port

    port = free_port()
    (tmp_path / "stub.py").write_text(STUB_VLLM)
    env = {k: v for k, v in os.environ.items() if not k.startswith("UCHI_")} | {
        "UCHI_STATE_DIR": str(tmp_path / "state"), "UCHI_SERVING_PORT": str(port)}
    process = subprocess.Popen([sys.executable, "-c", SUPERVISE, str(tmp_path / "stub.py"), str(tmp_path / "child")],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "vLLM serves base" in process.stdout.readline()
        leader = int(subprocess.run(["pgrep", "-f", str(tmp_path / "stub.py")], capture_output=True,
                                    text=True).stdout.split()[0])
        child = int((tmp_path / "child").read_text())
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
    deadline = time.monotonic() + 3
    while (alive(leader) or alive(child)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(leader) and not alive(child)
    assert took < 10.0 and process.returncode == 0
    import socket
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # nothing listens
    with socket.socket() as sock:
        # A new server can take the port (as vLLM does, with SO_REUSEADDR: the health checks' closed
        # connections may linger in TIME_WAIT).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
