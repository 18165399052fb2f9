"""Merging duplicates with their votes: a repeated submission becomes a record and a vote on the pair it
repeats, and two stored duplicates become one pair that keeps everything linked to either.

Whatever references a pair (paraphrases, votes, the bot's corrections and preference pairs, tables
added later) is found through the schema's foreign keys, so a merge re-points it without knowing it.
"""
from __future__ import annotations

from uchi.config import DataConfig
from uchi.data import conflicts, dedup
from uchi.data.store import Store, now


def references(store: Store, table: str = "pairs") -> list[tuple[str, str, str]]:
    """(table, column, on_delete) for every foreign key that points at `table`."""
    found = []
    for name in store.db.table_names():
        for fk in store.db.execute(f"PRAGMA foreign_key_list([{name}])").fetchall():
            if fk[2] == table:
                found.append((name, fk[3], fk[6]))
    return found


def vote(store: Store, pair_id: int, user: str, value: int = 1) -> None:
    """One vote per user per pair; the pair's own author does not vote for it."""
    author = store.one("SELECT author FROM pairs WHERE id = ?", [pair_id])["author"]
    if user != author:
        store.db.execute("INSERT OR IGNORE INTO pair_votes (pair_id, user, value, created_at) VALUES (?, ?, ?, ?)",
                         [pair_id, user, value, now()])


def record_repeat(store: Store, pair_id: int, *, question: str, answer: str, author: str, source: str,
                  merged_from: int | None = None) -> None:
    store.db["pair_merges"].insert({"pair_id": pair_id, "merged_from": merged_from, "question": question,
                                    "answer": answer, "author": author, "source": source, "created_at": now()})
    vote(store, pair_id, author)


def merge_pairs(store: Store, keep: int, drop: int) -> None:
    """Fold `drop` into `keep`: its text becomes a merge record, its author a vote, its links move over."""
    gone = store.one("SELECT * FROM pairs WHERE id = ?", [drop])
    with store.transaction():
        store.db.execute("DELETE FROM conflicts WHERE (pair_a = ? AND pair_b = ?) OR (pair_a = ? AND pair_b = ?)",
                         [keep, drop, drop, keep])
        for table, column, _ in references(store):
            if table != "question_bands":
                store.db.execute(f"UPDATE OR IGNORE [{table}] SET [{column}] = ? WHERE [{column}] = ?", [keep, drop])
        record_repeat(store, keep, question=gone["question"], answer=gone["answer"], author=gone["author"],
                      source=gone["source"], merged_from=drop)
        store.db.execute("DELETE FROM pairs WHERE id = ?", [drop])


def scan(store: Store, policy: DataConfig) -> dict:
    """Look at every stored pair as if it had just arrived: merge repeats, flag conflicts."""
    dedup.backfill(store)
    merged = flagged = 0
    for pair in store.rows("SELECT * FROM pairs ORDER BY id"):
        if store.one("SELECT 1 FROM pairs WHERE id = ?", [pair["id"]]) is None:
            continue  # merged away earlier in this scan
        for near in dedup.neighbours(store, pair["question"], policy.duplicate_threshold, exclude=pair["id"]):
            other = near.pair
            if dedup.answers_agree(pair["answer"], other["answer"], policy.agree_threshold):
                keep, drop = sorted([pair, other], key=lambda p: (dedup.STATUS_RANK[p["status"]], p["id"]))
                merge_pairs(store, keep["id"], drop["id"])
                merged += 1
                if drop["id"] == pair["id"]:
                    break
            elif "rejected" not in (pair["status"], other["status"]):
                flagged += conflicts.flag(store, pair["id"], other["id"], near.similarity)
    return {"merged": merged, "conflicts": flagged}
