"""Fault tier: real SQLite, real processes, bounded in time. Writers wait their turn and say for whom; a
restore during an import keeps what the import reported; a backup killed midway leaves the store intact;
a full disk gives a message and leaves nothing half-written."""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing

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

n = int(sys.argv[1])
store = Store.open(config.load())
store.doing = "import by cli:holder"
with store.transaction():
    add_pairs(store, [NewPair(question=f"held question number {i} about parking?", answer=f"answer {i}")
                      for i in range(n)], source="import:held.csv", author="cli:holder", heldout_percent=10)
    print("open", flush=True)
    sys.stdin.readline()  # holds the transaction until the test says "go" (or goes away)
print(f"imported {n}", flush=True)
"""


def _uchi(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "uchi.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ, **kw)


def _holder(n):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=os.environ)
    assert proc.stdout.readline().strip() == "open"
    return proc


def _waiting(other) -> str:
    """The other process's first line on stderr, once it is waiting for the holder (bounded by the test's
    communicate timeouts: it exits on its own after the store's wait)."""
    return other.stderr.readline()


def _release(holder) -> str:
    holder.stdin.write("go\n")
    holder.stdin.flush()
    assert holder.wait(timeout=60) == 0
    return holder.stdout.read().strip()


def _count(path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT COUNT(*) FROM pairs").fetchone()[0]


def _one_pair(cfg):
    with Store.open(cfg) as store:
        add_pairs(store, [NewPair(question="Who runs payroll?", answer="Ilse Varga.")], source="import:t.csv",
                  author="cli:admin", heldout_percent=10)


def test_a_second_writer_waits_its_turn_and_says_for_whom(cfg):
    _one_pair(cfg)
    holder = _holder(20)
    try:
        review = _uchi("data", "review", "1", "--approve", "--by", "U_REVIEWER")
        waiting = _waiting(review)
        assert review.poll() is None  # still waiting, not failed
        assert _release(holder) == "imported 20"
        out, err = review.communicate(timeout=60)
    finally:
        holder.kill()
        review.kill()
    assert review.returncode == 0, err
    assert "the store is busy (import by cli:holder since" in waiting and "Traceback" not in err, waiting + err
    assert "approved 1 pair(s)" in out
    with Store.open(cfg) as store:
        assert store.one("SELECT status FROM pairs WHERE id = 1")["status"] == "approved"
        assert store.one("SELECT COUNT(*) AS n FROM pairs")["n"] == 21


def test_restore_during_an_import_keeps_what_the_import_reported(cfg):
    _one_pair(cfg)
    taken = backup(cfg.state_dir / "uchi.db", folder_for(cfg.state_dir))
    holder = _holder(300)
    try:
        restore = _uchi("data", "restore", str(taken), "--force")
        waiting = _waiting(restore)
        reported = _release(holder)
        out, err = restore.communicate(timeout=60)
    finally:
        holder.kill()
        restore.kill()
    assert reported == "imported 300"
    assert restore.returncode == 0, err
    assert "the store is busy (import by cli:holder" in waiting and "Traceback" not in err
    saved = [p for p in listed(folder_for(cfg.state_dir)) if p.name.endswith("-pre-restore.db")]
    assert len(saved) == 1 and verify(saved[0])["pairs"] == 301  # every pair the import reported
    assert _count(cfg.state_dir / "uchi.db") == 1  # and the store is the backup


def _filler(cfg, n=3000, size=2000) -> int:
    """A store of some megabytes, quickly (raw rows; the near-duplicate index is not needed here)."""
    with Store.open(cfg) as store:
        with store.transaction():
            store.db.conn.executemany(
                "INSERT INTO pairs (question, answer, language, category, facts, source, author, status, split, "
                "question_key, created_at, updated_at) VALUES (?, ?, 'en', '', '[]', 'import:f.csv', 'cli:a', "
                "'pending', 'train', ?, '2026-01-01', '2026-01-01')",
                [(f"filler {i}?", f"answer {i} " + "x" * size, f"filler {i}") for i in range(n)])
        return store.one("SELECT COUNT(*) AS n FROM pairs")["n"]


BACKUP = """
import sys
from pathlib import Path
from uchi.data.backup import backup
print("start", flush=True)
backup(Path(sys.argv[1]), Path(sys.argv[2]))
"""


def test_a_backup_killed_midway_leaves_the_store_and_the_backups_intact(cfg):
    pairs = _filler(cfg, n=5000)
    db, folder = cfg.state_dir / "uchi.db", folder_for(cfg.state_dir)
    good = backup(db, folder)
    deadline = time.monotonic() + 30
    proc = subprocess.Popen([sys.executable, "-c", BACKUP, str(db), str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "start"
        while not list(folder.glob("*.partial")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert listed(folder) == [good]  # no half backup under a backup's name
    with Store.open(cfg) as store:
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert store.one("SELECT COUNT(*) AS n FROM pairs")["n"] == pairs
    left = list(folder.glob("*.partial"))
    if left:  # killed after the copy began: listed as unfinished, pruned once stale
        listing = subprocess.run([sys.executable, "-m", "uchi.cli", "data", "backups"], capture_output=True,
                                 text=True, env=os.environ).stdout
        assert "unfinished copy" in listing
        for path in left:
            os.utime(path, (time.time() - 7200,) * 2)
    backup(db, folder, keep=5)
    assert not list(folder.glob("*.partial")) and len(listed(folder)) == 2


def _limited(megabytes):
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (megabytes << 20, megabytes << 20))
    return limit


def test_a_full_disk_is_a_message_and_leaves_nothing_half_written(cfg, tmp_path):
    pairs = _filler(cfg, n=1500)  # ~4 MB
    folder = tmp_path / "backups"
    done = subprocess.run([sys.executable, "-m", "uchi.cli", "data", "backup", "--to", str(folder)],
                          capture_output=True, text=True, env=os.environ, preexec_fn=_limited(2), timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "is the disk full" in done.stderr and "partial copy was removed" in done.stderr
    assert not list(folder.glob("*"))
    rows = tmp_path / "big.jsonl"
    sentence = "The parking permit is renewed at the front desk every spring. "
    rows.write_text("".join(f'{{"question": "Big question {i}?", "answer": "{sentence * 110}{i}"}}\n'
                            for i in range(300)), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "uchi.cli", "data", "import", str(rows)], capture_output=True,
                          text=True, env=os.environ, preexec_fn=_limited(4), timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "is the disk full" in done.stderr and "Nothing of this change was kept" in done.stderr
    with Store.open(cfg) as store:
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert store.one("SELECT COUNT(*) AS n FROM pairs")["n"] == pairs
