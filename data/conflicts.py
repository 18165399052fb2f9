"""Conflicts: two pairs that answer the same question differently. Reviewers see them (`uchi data conflicts`,
the review queue); while a conflict is open and both sides are approved, neither is trained."""
from __future__ import annotations

from uchi.data.store import Store, now
from uchi.errors import UchiError


def flag(store: Store, pair_a: int, pair_b: int, similarity: float) -> int:
    """Record a conflict once per pair of pairs; returns 1 when it is new."""
    a, b = sorted((pair_a, pair_b))
    cursor = store.db.execute("INSERT OR IGNORE INTO conflicts (pair_a, pair_b, similarity, created_at) "
                              "VALUES (?, ?, ?, ?)", [a, b, similarity, now()])
    return cursor.rowcount


def open_conflicts(store: Store) -> list[dict]:
    """Open conflicts with both sides, their status, author and votes, oldest first."""
    found = store.rows("SELECT * FROM conflicts WHERE status = 'open' ORDER BY id")
    for conflict in found:
        conflict["pairs"] = [_side(store, conflict[key]) for key in ("pair_a", "pair_b")]
    return found


def _side(store: Store, pair_id: int) -> dict:
    return store.one("SELECT p.id, p.question, p.answer, p.status, p.author, "
                     "(SELECT COUNT(*) FROM pair_votes v WHERE v.pair_id = p.id AND v.value > 0) AS votes "
                     "FROM pairs p WHERE p.id = ?", [pair_id])


def blocked(store: Store) -> set[int]:
    """Approved pairs held out of training by an open conflict with another approved pair."""
    rows = store.rows("SELECT c.pair_a, c.pair_b FROM conflicts c JOIN pairs a ON a.id = c.pair_a "
                      "JOIN pairs b ON b.id = c.pair_b WHERE c.status = 'open' AND a.status = 'approved' "
                      "AND b.status = 'approved'")
    return {pair_id for row in rows for pair_id in (row["pair_a"], row["pair_b"])}


def involving(store: Store, pair_ids: list[int]) -> list[dict]:
    marks = ",".join("?" * len(pair_ids))
    return store.rows(f"SELECT * FROM conflicts WHERE status = 'open' AND (pair_a IN ({marks}) OR pair_b IN ({marks}))",
                      [*pair_ids, *pair_ids])


def resolve(store: Store, conflict_id: int, *, keep: int | None, reviewer: str) -> dict:
    """Keep one side (the other is rejected) or, with keep=None, both: they do not really disagree."""
    conflict = store.one("SELECT * FROM conflicts WHERE id = ?", [conflict_id])
    if conflict is None:
        raise UchiError(f"no conflict #{conflict_id}; list open ones with `uchi data conflicts`")
    if conflict["status"] != "open":
        raise UchiError(f"conflict #{conflict_id} was already resolved ({conflict['resolution']}, "
                        f"by {conflict['resolved_by']})")
    sides = (conflict["pair_a"], conflict["pair_b"])
    if keep is not None and keep not in sides:
        raise UchiError(f"pair #{keep} is not part of conflict #{conflict_id}; keep #{sides[0]} or #{sides[1]}, "
                        "or --both")
    stamp = now()
    with store.transaction():
        if keep is not None:
            loser = sides[1] if keep == sides[0] else sides[0]
            store.db["pairs"].update(loser, {"status": "rejected", "reviewed_by": reviewer, "reviewed_at": stamp,
                                             "updated_at": stamp})
        resolution = f"kept #{keep}" if keep is not None else "both"
        store.db["conflicts"].update(conflict_id, {"status": "resolved", "resolution": resolution,
                                                   "resolved_by": reviewer, "resolved_at": stamp})
    return store.one("SELECT * FROM conflicts WHERE id = ?", [conflict_id])
