"""Backups of the store: `uchi data backup` (nightly, e.g. from cron: `0 3 * * * uchi data backup`) and
`uchi data restore`.

A backup is taken with SQLite's online backup API, which copies a consistent snapshot while the bot and
the trainer keep writing (WAL: readers never block writers), into a single self-contained file that
must pass `PRAGMA integrity_check` before it is renamed into place. A restore checks the backup first,
refuses to overwrite a store that holds data unless told to, and then first backs up what it replaces.
A restore holds the store's write lock from before that backup until the switch, so whatever a writer
committed (and reported) before it is in the saved copy, and nothing commits in between. A live store
too damaged to read is moved aside (named in the message), not backed up, and replaced.
"""
from __future__ import annotations

import os
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path

from uchi.data.migrations import migrations
from uchi.data.store import WAIT_S, write_lock
from uchi.errors import UchiError

PREFIX = "uchi-"
# A `.partial` copy this old is left over from a backup that died (killed, disk full); pruning deletes it.
STALE_PARTIAL_S = 3600


def folder_for(state_dir: Path) -> Path:
    return Path(state_dir) / "backups"


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%f")[:-3] + "Z"


def backup(db_path: Path, folder: Path, *, keep: int | None = None, label: str = "") -> Path:
    """Copy the live store into folder/uchi-<UTC time>[-label].db; then keep only the newest `keep`."""
    db_path, folder = Path(db_path), Path(folder)
    if keep is not None and keep < 1:
        raise UchiError(f"keep {keep}: keep at least 1 backup (the one just taken)")
    if not db_path.is_file():
        raise UchiError(f"no store at {db_path} to back up")
    if folder.exists() and not folder.is_dir():
        raise UchiError(f"{folder} is a file, not a folder; give --to a folder (backups are named by time)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UchiError(f"cannot create the backup folder {folder} ({exc.strerror}); choose another with --to")
    final = folder / f"{PREFIX}{_stamp()}{'-' + label if label else ''}.db"
    partial = final.with_name(final.name + ".partial")
    try:
        source, target = sqlite3.connect(db_path, timeout=30), sqlite3.connect(partial)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")  # one file, no -wal beside it
            _check_integrity(target, partial)
        finally:
            source.close()
            target.close()
        os.replace(partial, final)
    except (sqlite3.Error, OSError, UchiError) as exc:
        for leftover in (partial, partial.with_name(partial.name + "-journal")):
            leftover.unlink(missing_ok=True)
        if isinstance(exc, UchiError):
            raise
        if "malformed" in str(exc) or "not a database" in str(exc):
            raise UchiError(f"the store {db_path} is damaged ({exc}); restore a backup over it with "
                            "`uchi data restore --latest --force`") from None
        raise UchiError(f"could not write the backup into {folder} ({exc}); is the disk full? Free some space "
                        "(or choose another folder with --to) and run again; the partial copy was removed") from None
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


def _state(db_path: Path) -> str:
    """"missing", "empty", "data" or "damaged" (unreadable, or failing the integrity check)."""
    if not db_path.is_file():
        return "missing"
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        if [row[0] for row in conn.execute("PRAGMA quick_check").fetchall()] != ["ok"]:
            return "damaged"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        held = any(conn.execute(f"SELECT 1 FROM [{t}] LIMIT 1").fetchone()
                   for t in ("pairs", "answers", "adapters") if t in tables)
        return "data" if held else "empty"
    except sqlite3.DatabaseError:
        return "damaged"
    finally:
        conn.close()


def _move_aside(db_path: Path) -> Path:
    """Rename a damaged store (and its -wal/-shm) out of the way; it is kept for whoever wants to look."""
    aside = db_path.with_name(f"{db_path.name}.damaged-{_stamp()}")
    for suffix in ("", "-wal", "-shm"):
        part = db_path.with_name(db_path.name + suffix)
        if part.exists():
            os.replace(part, aside.with_name(aside.name + suffix))
    return aside


def restore(source: Path, db_path: Path, folder: Path, *, force: bool = False, doing: str = "restore",
            wait_s: float = WAIT_S) -> dict:
    """Replace the live store with a verified backup; a store with data is only replaced with force, and is
    backed up first (label `pre-restore`), so a restore can itself be undone; a damaged one is moved aside.

    It waits for the writer at work (the store's write lock) and holds the lock until the switch: what a
    writer committed before is in the pre-restore backup, and no writer commits between the two."""
    found = verify(source)
    db_path = Path(db_path)
    saved = moved = None
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with write_lock(db_path, doing, wait_s=wait_s):
        state = _state(db_path)
        if state == "damaged":
            moved = _move_aside(db_path)
        elif state == "data":
            if not force:
                raise UchiError(f"{db_path} holds data; restoring would replace it. Run again with --force (it is "
                                "backed up first)")
            saved = backup(db_path, folder, label="pre-restore")
        backup_conn, live = sqlite3.connect(f"file:{source}?mode=ro", uri=True), sqlite3.connect(db_path, timeout=30)
        try:
            # Through the live connection, not a file copy: WAL readers and writers see a consistent switch.
            backup_conn.backup(live)
            _check_integrity(live, db_path)
        finally:
            backup_conn.close()
            live.close()
    return found | {"replaced_backup": saved, "moved_aside": moved}


def listed(folder: Path) -> list[Path]:
    """Backups, oldest first (names sort by time)."""
    return sorted(Path(folder).glob(f"{PREFIX}*.db")) if Path(folder).is_dir() else []


def leftovers(folder: Path) -> list[Path]:
    """`.partial` copies of backups that never finished (killed, disk full)."""
    return sorted(Path(folder).glob(f"{PREFIX}*.db.partial*")) if Path(folder).is_dir() else []


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups, and leftovers older than an hour; returns what was deleted."""
    if keep < 1:
        raise UchiError(f"keep {keep}: keep at least 1 backup")
    cutoff = time.time() - STALE_PARTIAL_S
    doomed = listed(folder)[:-keep] + [p for p in leftovers(folder) if p.stat().st_mtime < cutoff]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed
