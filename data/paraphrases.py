"""Evaluation paraphrases: other ways to ask an approved pair's question, each with its source.

The only module that reads or writes the `paraphrases` table. Sources (0009_paraphrase_sources.sql):
import (the import file), reviewer (the review or teach form), employee (an employee's question whose answer
cited the pair first and got a thumbs up; `suggested` until a reviewer confirms it) and generated (the base
model's rewordings for evaluation only). Paraphrases are never trained on; training phrasings avoid them.
"""
from __future__ import annotations

from dataclasses import dataclass

from uchi.data.redact import redact
from uchi.data.store import Store, now
from uchi.data.text import question_key
from uchi.errors import UchiError

SOURCES = ("employee", "reviewer", "import", "generated")
HUMAN = ("employee", "reviewer", "import")


@dataclass
class Paraphrase:
    id: int
    pair_id: int
    question: str
    source: str
    status: str
    pair_question: str = ""


def source_of(pair_source: str) -> str:
    """The paraphrase source of text that arrived with a pair: an import file, else a person in a form."""
    return "import" if pair_source.startswith("import") or pair_source == "sample" else "reviewer"


def add(store: Store, pair_id: int, texts: list[str], *, source: str, origin: str = "",
        status: str = "confirmed", answer_id: int | None = None) -> int:
    """Store rewordings of one pair (redacted, the pair's own question and repeats skipped); returns how many."""
    if source not in SOURCES:
        raise UchiError(f"paraphrase source {source!r}: choose one of {', '.join(SOURCES)}")
    pair = store.one("SELECT question FROM pairs WHERE id = ?", [pair_id])
    if pair is None:
        raise UchiError(f"no pair #{pair_id}")
    added = 0
    for text in texts:
        clean = redact(text.strip()).text
        if not clean or question_key(clean) == question_key(pair["question"]):
            continue
        added += store.db.execute(
            "INSERT OR IGNORE INTO paraphrases (pair_id, question, source, status, origin, answer_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", [pair_id, clean, source, status, origin, answer_id, now()]).rowcount
    return added


def of(store: Store, pair_ids: list[int], sources: tuple[str, ...] = HUMAN) -> dict[int, list[Paraphrase]]:
    """Confirmed paraphrases of these pairs from these sources, oldest first."""
    wanted, found = set(pair_ids), {}
    marks = ",".join("?" * len(sources))
    for row in store.rows(f"SELECT id, pair_id, question, source, status FROM paraphrases WHERE status = 'confirmed' "
                          f"AND source IN ({marks}) ORDER BY id", list(sources)):
        if row["pair_id"] in wanted:
            found.setdefault(row["pair_id"], []).append(Paraphrase(**row))
    return found


def texts_of(store: Store, pair_ids: list[int]) -> dict[int, list[str]]:
    """Human-written confirmed paraphrases as plain text (what export writes and training phrasings avoid)."""
    return {pid: [p.question for p in found] for pid, found in of(store, pair_ids).items()}


def suggest_from_answers(store: Store) -> int:
    """Offer employees' own questions as paraphrases: an answer with more thumbs up than down whose first
    cited source is an approved pair, asked in other words than the pair's. Idempotent (one row per text)."""
    rows = store.rows(
        "SELECT a.id AS answer_id, a.question, s.pair_id FROM answers a "
        "JOIN answer_sources s ON s.answer_id = a.id AND s.rank = (SELECT MIN(rank) FROM answer_sources "
        "WHERE answer_id = a.id) JOIN pairs p ON p.id = s.pair_id AND p.status = 'approved' "
        "WHERE (SELECT SUM(value) FROM ratings WHERE answer_id = a.id) > 0 ORDER BY a.id")
    added = 0
    with store.transaction():
        for row in rows:
            added += add(store, row["pair_id"], [row["question"]], source="employee", origin=f"answer:{row['answer_id']}",
                         status="suggested", answer_id=row["answer_id"])
    return added


def suggestions(store: Store, limit: int = 20) -> tuple[list[Paraphrase], int]:
    """Employees' questions waiting for a reviewer ("another way to ask pair N?"), and how many wait in all."""
    rows = store.rows("SELECT x.id, x.pair_id, x.question, x.source, x.status, p.question AS pair_question "
                      "FROM paraphrases x JOIN pairs p ON p.id = x.pair_id WHERE x.status = 'suggested' "
                      "ORDER BY x.id LIMIT ?", [limit])
    total = store.one("SELECT COUNT(*) AS n FROM paraphrases WHERE status = 'suggested'")["n"]
    return [Paraphrase(**row) for row in rows], total


def decide(store: Store, ids: list[int], confirmed: bool, reviewer: str) -> int:
    """Confirm (keep for evaluation) or reject suggested paraphrases; returns how many changed."""
    status = "confirmed" if confirmed else "rejected"
    with store.transaction():
        for paraphrase_id in ids:
            row = store.one("SELECT status FROM paraphrases WHERE id = ?", [paraphrase_id])
            if row is None:
                raise UchiError(f"no paraphrase #{paraphrase_id}; list them with `uchi data paraphrases`")
        changed = 0
        for paraphrase_id in ids:
            changed += store.db.execute("UPDATE paraphrases SET status = ?, reviewed_by = ? WHERE id = ? "
                                        "AND status != ?", [status, reviewer, paraphrase_id, status]).rowcount
    return changed


def counts(store: Store) -> dict[str, dict[str, int]]:
    """source -> status -> how many, for the CLI and the report's account of its evidence."""
    found: dict[str, dict[str, int]] = {}
    for row in store.rows("SELECT source, status, COUNT(*) AS n FROM paraphrases GROUP BY source, status"):
        found.setdefault(row["source"], {})[row["status"]] = row["n"]
    return found
