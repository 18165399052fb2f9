"""`uchi data export` and `uchi data stats`: what the store holds, in the import format.

CSV cells that a spreadsheet would run as a formula (=, +, -, @ first) are written with a ' before them,
and the importer takes it off again, so an export imports back exactly (data/importer.py protect)."""
from __future__ import annotations

import csv
import io
import json

from uchi.data.importer import protect
from uchi.data.pairs import load_pairs
from uchi.data.paraphrases import texts_of
from uchi.data.store import Store

COLUMNS = ["id", "question", "answer", "language", "category", "facts", "paraphrases", "status", "split",
           "source", "author"]


def export_rows(store: Store, *, status: str | None = None, split: str | None = None) -> list[dict]:
    pairs = load_pairs(store, status=status, split=split)
    rewordings = texts_of(store, [p["id"] for p in pairs])
    return [{c: (rewordings.get(p["id"], []) if c == "paraphrases" else p[c]) for c in COLUMNS} for p in pairs]


def render(rows: list[dict], fmt: str) -> str:
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        flat = row | {"facts": "|".join(row["facts"]), "paraphrases": "|".join(row["paraphrases"])}
        writer.writerow({k: protect(v) if isinstance(v, str) else v for k, v in flat.items()})
    return buffer.getvalue()


def stats(store: Store) -> dict:
    counts = store.rows("SELECT status, split, language, COUNT(*) AS n FROM pairs GROUP BY status, split, language")
    return {
        "pairs": counts,
        "paraphrases": store.one("SELECT COUNT(*) AS n FROM paraphrases")["n"],
        "answers": store.one("SELECT COUNT(*) AS n FROM answers")["n"],
        "ratings": store.one("SELECT COUNT(*) AS n FROM ratings")["n"],
        "adapters": store.one("SELECT COUNT(*) AS n FROM adapters")["n"],
        "production": store.alias("production"),
    }


def distribution(store: Store, column: str, limit: int = 50) -> list[dict]:
    """Pairs by language, category or author and status: is the dataset balanced, or is one voice most of it?"""
    if column not in ("language", "category", "author"):
        raise ValueError(column)
    return store.rows(f"SELECT {column} AS value, COUNT(*) AS total, SUM(status = 'approved') AS approved, "
                      f"SUM(status = 'pending') AS pending, SUM(status = 'rejected') AS rejected FROM pairs "
                      f"GROUP BY {column} ORDER BY total DESC, value LIMIT ?", [limit])


def by_month(store: Store, column: str = "language") -> list[dict]:
    """Pairs added per month and language (or category, or author), oldest first."""
    if column not in ("language", "category", "author"):
        raise ValueError(column)
    return store.rows(f"SELECT substr(created_at, 1, 7) AS month, {column} AS value, COUNT(*) AS n FROM pairs "
                      f"GROUP BY month, {column} ORDER BY month, {column}")
