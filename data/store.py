"""The dataset store: one SQLite file (WAL) under the state directory, read and written through sqlite-utils.

Writers take turns. A write transaction begins with `BEGIN IMMEDIATE` (a deferred BEGIN that reads first
and writes later gets SQLITE_BUSY at once, without the busy handler), after taking the store's write lock:
a file beside the store (`uchi.db.lock`, flock) that also holds a note of who writes and since when, so a
writer that has to wait can say whom it waits for, and a restore can wait for every writer and keep the
others out while it replaces the file. A killed writer's lock goes with its process.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import sqlite_utils

from uchi.data.migrations import migrations
from uchi.errors import UchiError

# How long a writer waits for another before giving up with a message (an import of 100k pairs takes minutes).
WAIT_S = 600.0
_POLL_S = 0.05


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _say(message: str) -> None:
    print(f"uchi: {message}", file=sys.stderr, flush=True)


def lock_path(db_path: Path) -> Path:
    return Path(db_path).with_name(Path(db_path).name + ".lock")


def holder(db_path: Path) -> str:
    """Who holds the write lock, as recorded in its note: "import by cli:ana since 10:02:13, pid 41"."""
    try:
        note = json.loads(lock_path(db_path).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        note = {}
    if not note:
        return "another writer"
    since = datetime.fromisoformat(note["since"]).astimezone().strftime("%H:%M:%S")
    return f"{note['doing']} since {since}, pid {note['pid']}"


@contextlib.contextmanager
def write_lock(db_path: Path, doing: str, *, wait_s: float = WAIT_S, on_wait=_say):
    """Hold the store's write lock (waiting for the current holder, saying so once per holder)."""
    path = lock_path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline, told = time.monotonic() + wait_s, None
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                who = holder(db_path)
                if time.monotonic() > deadline:
                    raise UchiError(f"the store is busy ({who}) and stayed so for {wait_s:.0f} s; try again "
                                    "when that finishes") from None
                if who != told:
                    on_wait(f"the store is busy ({who}), retrying")
                    told = who
                time.sleep(_POLL_S)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"doing": doing, "since": now(), "pid": os.getpid()}).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _default_doing() -> str:
    words = [Path(sys.argv[0]).name] + [a for a in sys.argv[1:3] if not a.startswith("-")] if sys.argv else ["uchi"]
    return " ".join(words)


def _explained(path: Path, exc: sqlite3.OperationalError) -> Exception:
    """The SQLite failures a person can do something about, as a message; anything else stays a bug."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return UchiError(f"the store {path} is busy ({holder(path)}) past the wait; nothing of this change was "
                         "kept; try again when that finishes")
    if "full" in text or "I/O" in text:
        return UchiError(f"the store {path} could not be written ({text}): is the disk full? Nothing of this "
                         "change was kept; free some space and run it again")
    return exc


class Store:
    """Connection plus the handful of queries every stage shares; stage-specific queries live with the stage."""

    # The configuration it was opened with (Store.open), so that data policies (rate limits, the author
    # cap) apply whoever calls add_pairs or snapshot.current; None for a bare Store(path): defaults apply.
    cfg = None
    # What this connection's writes are, for the lock note others see while they wait ("import by cli:ana").
    doing = ""
    wait_s = WAIT_S

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.doing = _default_doing()
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self.db = sqlite_utils.Database(conn)
        try:
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA busy_timeout = 30000")
            # 32 MiB of page cache (default 2): the near-duplicate and full-text indexes of a 100k store are
            # read on every insert; measured 15% less CPU per imported pair at 10k.
            self.db.execute("PRAGMA cache_size = -32768")
            self.db.enable_wal()
            self._migrate()
        except sqlite3.DatabaseError as exc:
            conn.close()
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise UchiError(f"the store {self.path} is busy ({holder(self.path)}); try again when that "
                                "finishes") from None
            raise UchiError(f"the store {self.path} is damaged ({exc}); restore a backup over it with "
                            "`uchi data restore --latest --force` (the damaged file is moved aside)") from None

    @classmethod
    def open(cls, cfg) -> "Store":
        opened = cls(cfg.state_dir / "uchi.db")
        opened.cfg = cfg
        return opened

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        known = migrations()
        self.db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        applied = {row["name"] for row in self.db.query("SELECT name FROM schema_migrations")}
        unknown = applied - {name for name, _ in known}
        if unknown:
            raise UchiError(f"{self.path} has migrations this uchi does not know ({', '.join(sorted(unknown))}); "
                            "upgrade uchi")
        for name, script in known:
            if name in applied:
                continue
            # executescript commits on its own; BEGIN/COMMIT make each migration all-or-nothing.
            self.db.conn.executescript(
                f"BEGIN;\n{script}\nINSERT INTO schema_migrations VALUES ('{name}', '{now()}');\n"
                f"PRAGMA user_version = {len(applied) + 1};\nCOMMIT;")
            applied.add(name)

    @contextlib.contextmanager
    def transaction(self):
        """`with store.transaction():` all writes inside commit together or not at all (nests as savepoints).

        Every write transaction starts here: with the write lock, then BEGIN IMMEDIATE, so a second writer
        waits its turn (and says for whom) instead of failing with "database is locked"."""
        conn = self.db.conn
        if conn.in_transaction:
            name = f"nested_{id(self)}_{time.monotonic_ns()}"
            conn.execute(f"SAVEPOINT {name}")
            try:
                yield self.db
            except BaseException:
                if conn.in_transaction:
                    conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                    conn.execute(f"RELEASE SAVEPOINT {name}")
                raise
            else:
                conn.execute(f"RELEASE SAVEPOINT {name}")
            return
        with write_lock(self.path, self.doing, wait_s=self.wait_s):
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self.db
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                raise _explained(self.path, exc) from None

    def rows(self, sql: str, params=()) -> list[dict]:
        try:
            return list(self.db.query(sql, params))
        except sqlite3.DatabaseError as exc:
            if "malformed" in str(exc) or "not a database" in str(exc):
                raise UchiError(f"the store {self.path} is damaged ({exc}); restore a backup over it with "
                                "`uchi data restore --latest --force` (the damaged file is moved aside)") from None
            raise

    def one(self, sql: str, params=()) -> dict | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def matching(self, table: str, **equals) -> list[dict]:
        """Rows of `table` whose columns equal the given values (None: any), oldest first."""
        given = {column: value for column, value in equals.items() if value is not None}
        where = " AND ".join(f"[{column}] = ?" for column in given)
        return self.rows(f"SELECT * FROM [{table}]" + (f" WHERE {where}" if where else "") + " ORDER BY rowid",
                         list(given.values()))

    # Aliases are read everywhere (serving, evals, bot), so they live here.
    def alias(self, name: str) -> str | None:
        row = self.one("SELECT version FROM aliases WHERE name = ?", [name])
        return row["version"] if row else None
