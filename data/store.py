"""The dataset store: one SQLite file (WAL) under the state directory, read and written through sqlite-utils."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import sqlite_utils

from uchi.data.migrations import migrations
from uchi.errors import UchiError


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Store:
    """Connection plus the handful of queries every stage shares; stage-specific queries live with the stage."""

    # The configuration it was opened with (Store.open), so that data policies (rate limits, the author
    # cap) apply whoever calls add_pairs or snapshot.current; None for a bare Store(path): defaults apply.
    cfg = None

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self.db = sqlite_utils.Database(conn)
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.execute("PRAGMA busy_timeout = 30000")
        self.db.enable_wal()
        self._migrate()

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

    def transaction(self):
        """`with store.transaction():` all writes inside commit together or not at all (nests as savepoints)."""
        return self.db.atomic()

    def rows(self, sql: str, params=()) -> list[dict]:
        return list(self.db.query(sql, params))

    def one(self, sql: str, params=()) -> dict | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    # Aliases are read everywhere (serving, evals, bot), so they live here.
    def matching(self, table: str, **equals) -> list[dict]:
        """Rows of `table` whose columns equal the given values (None: any), oldest first."""
        given = {column: value for column, value in equals.items() if value is not None}
        where = " AND ".join(f"[{column}] = ?" for column in given)
        return self.rows(f"SELECT * FROM [{table}]" + (f" WHERE {where}" if where else "") + " ORDER BY rowid",
                         list(given.values()))

    def alias(self, name: str) -> str | None:
        row = self.one("SELECT version FROM aliases WHERE name = ?", [name])
        return row["version"] if row else None

    def adapter(self, version: str) -> dict:
        row = self.one("SELECT * FROM adapters WHERE version = ?", [version])
        if row is None:
            known = [r["version"] for r in self.rows("SELECT version FROM adapters ORDER BY created_at DESC LIMIT 5")]
            hint = f"; recent versions: {', '.join(known)}" if known else "; train one with `uchi train`"
            raise UchiError(f"no adapter version {version!r}{hint}")
        row["metadata"] = json.loads(row["metadata"])
        return row
