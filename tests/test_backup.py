"""Backups while a writer writes, a writer killed mid-transaction, restores that check first (fast tier)."""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing

import pytest

from uchi import config as config_module
from uchi.cli import main
from uchi.data.backup import backup, folder_for, listed, prune, restore, verify
from uchi.data.store import Store
from uchi.errors import UchiError

BATCH = 5
KILLED_IN = 25  # the batch the writer is killed in, with its rows written but not committed

WRITER = f"""
import itertools, time
from uchi import config
from uchi.data.pairs import NewPair, add_pairs
from uchi.data.store import Store

store = Store.open(config.load())
for batch in itertools.count():
    with store.transaction():
        add_pairs(store, [NewPair(question=f"writer batch {{batch}} item {{i}}?", answer=f"value {{batch}}-{{i}}")
                          for i in range({BATCH})], source="slack:writer", author="U_WRITER", heldout_percent=10)
        print(f"open {{batch}}", flush=True)
        time.sleep(60 if batch == {KILLED_IN} else 0.01)
    print(f"committed {{batch}}", flush=True)
"""


def _batches(conn) -> dict[int, int]:
    rows = conn.execute("SELECT question FROM pairs WHERE author = 'U_WRITER'").fetchall()
    counts: dict[int, int] = {}
    for (question,) in rows:
        batch = int(question.split()[2])
        counts[batch] = counts.get(batch, 0) + 1
    return counts


def _integrity(path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def test_backup_during_writes_and_a_writer_killed_mid_transaction(cfg, monkeypatch):
    monkeypatch.setenv("UCHI_DATA_RATE_LIMIT_PAIRS", "100000")
    Store.open(cfg).close()
    writer = subprocess.Popen([sys.executable, "-c", WRITER], stdout=subprocess.PIPE, text=True, env=os.environ)
    committed, taken, backup_seen = -1, None, -1
    try:
        for line in writer.stdout:
            state, batch = line.split()
            if state == "committed":
                committed = int(batch)
                if committed == 10 and taken is None:
                    backup_seen = committed  # everything up to here was committed before the backup began
                    taken = backup(cfg.state_dir / "uchi.db", folder_for(cfg.state_dir))
            elif int(batch) == KILLED_IN:
                os.kill(writer.pid, signal.SIGKILL)  # mid-transaction: its rows are written, not committed
                break
    finally:
        writer.kill()
        writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL and committed == KILLED_IN - 1
    with Store.open(cfg) as store:  # recovers from the killed writer's WAL
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        batches = _batches(store.db.conn)
    assert batches == {b: BATCH for b in range(KILLED_IN)}  # every commit kept, the open batch gone whole
    assert _integrity(taken) == "ok"
    in_backup = _batches(sqlite3.connect(taken))
    assert set(range(backup_seen + 1)) <= set(in_backup) and set(in_backup.values()) == {BATCH}

    restored_state = cfg.state_dir.parent / "restored"
    done = restore(taken, restored_state / "uchi.db", folder_for(restored_state))
    assert done["replaced_backup"] is None and _integrity(restored_state / "uchi.db") == "ok"
    assert _batches(sqlite3.connect(restored_state / "uchi.db")) == in_backup


def test_restore_checks_first_and_never_overwrites_silently(cfg, store, capsys):
    from uchi.data.pairs import NewPair, add_pairs

    add_pairs(store, [NewPair(question="Who runs payroll?", answer="Ilse Varga.")], source="import:t.csv",
              author="cli:admin", heldout_percent=10, status="approved", reviewer="cli:admin")
    assert main(["data", "backup"]) == 0
    first = listed(folder_for(cfg.state_dir))[-1]
    add_pairs(store, [NewPair(question="社員食堂の名前は？", answer="ミナトテラスです。")], source="import:t.csv",
              author="cli:admin", heldout_percent=10)
    assert main(["data", "restore", str(first)]) == 2
    assert "holds data" in capsys.readouterr().err
    assert store.one("SELECT COUNT(*) AS n FROM pairs")["n"] == 2  # untouched
    assert main(["data", "restore", "--latest", "--force"]) == 0
    assert "the replaced store was saved as" in capsys.readouterr().out
    assert store.one("SELECT COUNT(*) AS n FROM pairs")["n"] == 1
    saved = [p for p in listed(folder_for(cfg.state_dir)) if p.name.endswith("-pre-restore.db")]
    assert len(saved) == 1 and verify(saved[0])["pairs"] == 2  # the restore itself can be undone
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_broken_backups_are_refused(cfg, store, tmp_path):
    path = backup(cfg.state_dir / "uchi.db", tmp_path)
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 3])
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    for broken in (truncated, garbage):
        with pytest.raises(UchiError, match="integrity|not a readable SQLite"):
            restore(broken, cfg.state_dir / "uchi.db", tmp_path, force=True)
    with pytest.raises(UchiError, match="no backup at"):
        verify(tmp_path / "missing.db")
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_retention_keeps_the_newest(cfg, store, tmp_path, monkeypatch):
    made = []
    for _ in range(4):
        made.append(backup(cfg.state_dir / "uchi.db", tmp_path, keep=2))
        time.sleep(0.002)
    assert listed(tmp_path) == made[-2:]
    assert prune(tmp_path, 1) == made[-2:-1] and listed(tmp_path) == made[-1:]
    monkeypatch.setenv("UCHI_DATA_BACKUP_KEEP", "3")
    for _ in range(4):
        assert main(["data", "backup"]) == 0
    assert len(listed(folder_for(config_module.load().state_dir))) == 3


def _damage(path, how):
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(data[:len(data) // 3]))
    elif how == "garbage":
        path.write_bytes(b"not a database at all" * 200)
    else:  # a broken page in the middle of the file
        page = 4096 * (len(data) // 4096 // 2)
        data[page:page + 4096] = b"\xa5" * 4096
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "garbage", "broken page"])
def test_a_damaged_store_is_moved_aside_and_restored_over(cfg, capsys, how):
    from uchi.data.pairs import NewPair, add_pairs

    with Store.open(cfg) as store:
        add_pairs(store, [NewPair(question=f"Question {i} about the {i}th floor?", answer="x" * 500 + f" {i}")
                          for i in range(60)], source="import:t.csv", author="cli:admin", heldout_percent=10)
    assert main(["data", "backup"]) == 0
    db = cfg.state_dir / "uchi.db"
    with Store.open(cfg) as store:
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _damage(db, how)
    capsys.readouterr()
    if main(["data", "stats"]) != 0:  # a message, not a traceback (a truncated file may still read)
        assert "is damaged" in capsys.readouterr().err
    assert main(["data", "restore", "--latest", "--force"]) == 0
    out = capsys.readouterr().out
    assert "the live store was damaged and was moved aside to" in out
    aside = [p for p in cfg.state_dir.iterdir() if ".damaged-" in p.name and not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1 and str(aside[0]) in out
    with Store.open(cfg) as store:
        assert store.one("SELECT COUNT(*) AS n FROM pairs")["n"] == 60


def test_backup_and_export_targets_are_checked(cfg, store, tmp_path, capsys):
    existing = tmp_path / "a-file.db"
    existing.write_text("keep me")
    assert main(["data", "backup", "--to", str(existing)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err and existing.read_text() == "keep me"
    for keep in ("0", "-1"):
        assert main(["data", "backup", "--keep", keep]) == 2
        assert "keep at least 1 backup" in capsys.readouterr().err
    assert main(["data", "export", "-o", str(tmp_path / "missing" / "out.jsonl")]) == 2
    assert "does not exist; create it first" in capsys.readouterr().err
    assert main(["data", "export", "-o", str(tmp_path)]) == 2
    assert "is a folder; give a file name" in capsys.readouterr().err
