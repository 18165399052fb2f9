"""Fault tier: real SQLite, real processes, bounded in time. Writers wait their turn and say for whom; a
restore during an import keeps what the import reported; a backup killed midway leaves the store intact;
a full disk gives a message and leaves nothing half-written."""
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from uchi.data.backup import backup, folder_for, listed, verify
from uchi.data.pairs import NewPair, add_pairs
from uchi.data.store import Store

pytestmark = pytest.mark.fault

# A writer that holds a write transaction open for a while (as a long import does), then reports.
HOLDER = """
import sys, time
from uchi import config
from uchi.data.pairs import NewPair, add_pairs
from uchi.data.store import Store

n, hold = int(sys.argv[1]), float(sys.argv[2])
store = Store.open(config.load())
store.doing = "import by cli:holder"
with store.transaction():
    add_pairs(store, [NewPair(question=f"held question number {i} about parking?", answer=f"answer {i}")
                      for i in range(n)], source="import:held.csv", author="cli:holder", heldout_percent=10)
    print("open", flush=True)
    time.sleep(hold)
print(f"imported {n}", flush=True)
"""


def _uchi(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "uchi.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ, **kw)


def _holder(n, hold):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(n), str(hold)], stdout=subprocess.PIPE,
                            text=True, env=os.environ)
    assert proc.stdout.readline().strip() == "open"
    return proc


def _count(path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT COUNT(*) FROM pairs").fetchone()[0]
    finally:
        conn.close()


def _one_pair(cfg):
    with Store.open(cfg) as store:
        add_pairs(store, [NewPair(question="Who runs payroll?", answer="Ilse Varga.")], source="import:t.csv",
                  author="cli:admin", heldout_percent=10)


def test_a_second_writer_waits_its_turn_and_says_for_whom(cfg):
    _one_pair(cfg)
    holder = _holder(20, 1.5)
    try:
        started = time.monotonic()
        review = _uchi("data", "review", "1", "--approve", "--by", "U_REVIEWER")
        out, err = review.communicate(timeout=60)
        waited = time.monotonic() - started
        assert holder.wait(timeout=60) == 0 and holder.stdout.read().strip() == "imported 20"
    finally:
        holder.kill()
    assert review.returncode == 0, err
    assert "Traceback" not in err and "the store is busy (import by cli:holder since" in err, err
    assert "approved 1 pair(s)" in out and waited > 0.5
    with Store.open(cfg) as store:
        assert store.one("SELECT status FROM pairs WHERE id = 1")["status"] == "approved"
        assert store.one("SELECT COUNT(*) AS n FROM pairs")["n"] == 21


def test_restore_during_an_import_keeps_what_the_import_reported(cfg):
    _one_pair(cfg)
    taken = backup(cfg.state_dir / "uchi.db", folder_for(cfg.state_dir))
    holder = _holder(300, 1.5)
    try:
        restore = _uchi("data", "restore", str(taken), "--force")
        out, err = restore.communicate(timeout=60)
        assert holder.wait(timeout=60) == 0
        reported = holder.stdout.read().strip()
    finally:
        holder.kill()
    assert reported == "imported 300"
    assert restore.returncode == 0, err
    assert "the store is busy (import by cli:holder" in err and "Traceback" not in err
    saved = [p for p in listed(folder_for(cfg.state_dir)) if p.name.endswith("-pre-restore.db")]
    assert len(saved) == 1 and verify(saved[0])["pairs"] == 301  # every pair the import reported
    assert _count(cfg.state_dir / "uchi.db") == 1  # and the store is the backup
