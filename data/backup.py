"""Backups of the store: `uchi data backup` (nightly, e.g. from cron: `0 3 * * * uchi data backup`) and
`uchi data restore`.

A backup is taken with SQLite's online backup API, which copies a consistent snapshot while the bot and
the trainer keep writing (WAL: readers never block writers), into a single self-contained file that
must pass `PRAGMA integrity_check` before it is renamed into place. A restore checks the backup first,
refuses to overwrite a store that holds data unless told to, and then first backs up what it replaces.
"""
from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from uchi.data.migrations import migrations
from uchi.errors import UchiError

PREFIX = "uchi-"


def folder_for(state_dir: Path) -> Path:
    return Path(state_dir) / "backups"


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%f")[:-3] + "Z"


def backup(db_path: Path, folder: Path, *, keep: int | None = None, label: str = "") -> Path:
    """Copy the live store into folder/uchi-<UTC time>[-label].db; then keep only the newest `keep`."""
    db_path, folder = Path(db_path), Path(folder)
    if not db_path.is_file():
        raise UchiError(f"no store at {db_path} to back up")
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{PREFIX}{_stamp()}{'-' + label if label else ''}.db"
    partial = final.with_name(final.name + ".partial")
    source, target = sqlite3.connect(db_path, timeout=30), sqlite3.connect(partial)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode = DELETE")  # one file, no -wal beside it
        _check_integrity(target, partial)
    finally:
        source.close()
        target.close()
    os.replace(partial, final)
    if keep:
        prune(folder, keep)
    return final


def _check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    result = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
    if result != ["ok"]:
        raise UchiError(f"{path} fails its integrity check ({'; '.join(result[:3])}); it cannot be used")


def verify(path: Path) -> dict:
    """Integrity, and that it is a uchi store this version can open; returns what it holds."""
    path = Path(path)
    if not path.is_file():
        raise UchiError(f"no backup at {path}; list them with `uchi data backups`")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        _check_integrity(conn, path)
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"schema_migrations", "pairs"} <= tables:
            raise UchiError(f"{path} is a SQLite file but not a uchi store (no pairs / schema_migrations)")
        applied = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
        pairs = conn.execute("SELECT COUNT(*) FROM pairs").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise UchiError(f"{path} is not a readable SQLite database ({exc})") from None
    finally:
        conn.close()
    unknown = applied - {name for name, _ in migrations()}
    if unknown:
        raise UchiError(f"{path} comes from a newer uchi (migrations {', '.join(sorted(unknown))}); upgrade uchi")
    return {"path": path, "pairs": pairs, "migrations": len(applied)}


def _holds_data(db_path: Path) -> bool:
    if not db_path.is_file():
        return False
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return any(conn.execute(f"SELECT 1 FROM [{t}] LIMIT 1").fetchone()
                   for t in ("pairs", "answers", "adapters") if t in tables)
    finally:
        conn.close()


def restore(source: Path, db_path: Path, folder: Path, *, force: bool = False) -> dict:
    """Replace the live store with a verified backup; a store with data is only replaced with force, and is
    backed up first (label `pre-restore`), so a restore can itself be undone."""
    found = verify(source)
    db_path = Path(db_path)
    saved = None
    if _holds_data(db_path):
        if not force:
            raise UchiError(f"{db_path} holds data; restoring would replace it. Run again with --force (it is "
                            "backed up first)")
        saved = backup(db_path, folder, label="pre-restore")
    db_path.parent.mkdir(parents=True, exist_ok=True)
    backup_conn, live = sqlite3.connect(f"file:{source}?mode=ro", uri=True), sqlite3.connect(db_path, timeout=30)
    try:
        # Through the live connection, not a file copy: WAL readers and writers see a consistent switch.
        backup_conn.backup(live)
        _check_integrity(live, db_path)
    finally:
        backup_conn.close()
        live.close()
    return found | {"replaced_backup": saved}


def listed(folder: Path) -> list[Path]:
    """Backups, oldest first (names sort by time)."""
    return sorted(Path(folder).glob(f"{PREFIX}*.db")) if Path(folder).is_dir() else []


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups; returns what was deleted."""
    doomed = listed(folder)[:-keep] if keep > 0 else []
    for path in doomed:
        path.unlink()
    return doomed
