"""Deletion: `uchi data forget --author U` or `uchi data forget PAIR_ID...`.

Deletes the contributions, records the deletion (who asked, what, how many rows; never the text), and
marks every adapter whose snapshot held a deleted pair as needing retraining: its weights still carry
the data. The next snapshot cannot include the deleted pairs because they no longer exist.

Forgetting an author deletes their pairs, their merged repeats, their votes and ratings, and rows of any
table that records its contributor in an `author` column (e.g. the bot's preference pairs). A pair of
theirs that another author had independently submitted too passes to that author (pending review again)
instead of disappearing with it. Rows elsewhere that point at a deleted pair go with it.
"""
from __future__ import annotations

import json

from uchi.data.limits import policy
from uchi.data.merge import references
from uchi.data.pairs import assign_split, free_key
from uchi.data.store import Store, now
from uchi.data.text import question_key
from uchi.errors import UchiError


def plan(store: Store, *, author: str | None = None, pair_ids: list[int] | None = None) -> dict:
    """What forgetting would delete, without deleting anything."""
    if bool(author) == bool(pair_ids):
        raise UchiError("forget what? give --author USER or one or more pair ids (not both)")
    if author:
        ids = [r["id"] for r in store.rows("SELECT id FROM pairs WHERE author = ? ORDER BY id", [author])]
        extra = store.one("SELECT (SELECT COUNT(*) FROM pair_merges WHERE author = :a) + "
                          "(SELECT COUNT(*) FROM pair_votes WHERE user = :a) + "
                          "(SELECT COUNT(*) FROM ratings WHERE user = :a) AS n", {"a": author})["n"]
        if not ids and not extra:
            raise UchiError(f"nothing stored from author {author!r}; authors are recorded as given (e.g. a Slack "
                            "user ID like U012AB3CD, or cli:NAME for imports)")
    else:
        ids = sorted(set(pair_ids))
        known = {r["id"] for r in store.rows(f"SELECT id FROM pairs WHERE id IN ({','.join('?' * len(ids))})", ids)}
        if set(ids) - known:
            raise UchiError(f"no pair {', '.join(f'#{i}' for i in sorted(set(ids) - known))}; nothing was deleted")
    return {"target": f"author:{author}" if author else "pairs:" + ",".join(map(str, ids)), "author": author,
            "pair_ids": ids, "adapters": trained_on(store, ids)}


def trained_on(store: Store, pair_ids: list[int]) -> list[str]:
    """Adapter versions whose snapshot held any of these pairs."""
    wanted = set(pair_ids)
    return [row["version"] for row in store.rows("SELECT a.version, s.pair_ids FROM adapters a JOIN snapshots s "
                                                 "ON s.hash = a.snapshot ORDER BY a.created_at")
            if wanted & set(json.loads(row["pair_ids"]))]


def forget(store: Store, *, actor: str, author: str | None = None, pair_ids: list[int] | None = None,
           reason: str = "") -> dict:
    todo = plan(store, author=author, pair_ids=pair_ids)
    counts: dict[str, int] = {}
    with store.transaction():
        doomed = [i for i in todo["pair_ids"] if not (author and _hand_over(store, i, author))]
        counts["handed over"] = len(todo["pair_ids"]) - len(doomed)
        _delete_pairs(store, doomed, counts)
        if author:
            _delete_author_rows(store, author, counts)
        deletion_id = store.db["deletions"].insert({
            "target": todo["target"], "pair_ids": json.dumps(todo["pair_ids"]),
            "counts": json.dumps({k: v for k, v in counts.items() if v}), "actor": actor, "reason": reason,
            "created_at": now()}).last_pk
        for version in todo["adapters"]:
            store.db["retrain_needed"].insert({"adapter_version": version, "deletion_id": deletion_id,
                                               "created_at": now()}, ignore=True)
    return todo | {"deletion_id": deletion_id, "counts": {k: v for k, v in counts.items() if v}}


def _hand_over(store: Store, pair_id: int, leaving: str) -> bool:
    """Give the pair to the first other author who submitted it too; it waits for review again."""
    heir = store.one("SELECT * FROM pair_merges WHERE pair_id = ? AND author != ? ORDER BY id LIMIT 1",
                     [pair_id, leaving])
    if heir is None:
        return False
    store.db.execute("UPDATE pairs SET question_key = ? WHERE id = ?", [f"forgetting:{pair_id}", pair_id])
    store.db["pairs"].update(pair_id, {
        "question": heir["question"], "answer": heir["answer"], "author": heir["author"], "source": heir["source"],
        "question_key": free_key(store, question_key(heir["question"])), "status": "pending",
        "split": assign_split(heir["question"], policy(store).heldout_percent),
        "reviewed_by": None, "reviewed_at": None, "updated_at": now()})
    store.db.execute("DELETE FROM pair_merges WHERE id = ?", [heir["id"]])
    store.db.execute("DELETE FROM pair_votes WHERE pair_id = ? AND user = ?", [pair_id, heir["author"]])
    store.db.execute("DELETE FROM pair_merges WHERE pair_id = ? AND author = ?", [pair_id, leaving])
    return True


def _delete_pairs(store: Store, ids: list[int], counts: dict[str, int]) -> None:
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for table, column, on_delete in references(store):
            if on_delete.upper() != "CASCADE":
                cursor = store.db.execute(f"DELETE FROM [{table}] WHERE [{column}] IN ({marks})", chunk)
                counts[table] = counts.get(table, 0) + cursor.rowcount
        cursor = store.db.execute(f"DELETE FROM pairs WHERE id IN ({marks})", chunk)
        counts["pairs"] = counts.get("pairs", 0) + cursor.rowcount


def _delete_author_rows(store: Store, author: str, counts: dict[str, int]) -> None:
    for table, column in [("pair_votes", "user"), ("ratings", "user")] + [
            (t, "author") for t in store.db.table_names() if t != "pairs" and "author" in store.db[t].columns_dict]:
        cursor = store.db.execute(f"DELETE FROM [{table}] WHERE [{column}] = ?", [author])
        counts[table] = counts.get(table, 0) + cursor.rowcount
