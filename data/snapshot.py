"""Snapshots: the approved train pairs, in chat-message form, named by a hash of their content."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from uchi.data import conflicts, limits
from uchi.data.pairs import load_pairs
from uchi.data.store import Store, now
from uchi.errors import UchiError


@dataclass
class Snapshot:
    hash: str
    pairs: list[dict]
    # Approved train pairs left out of this snapshot, with why ("conflict", "author cap").
    held_back: dict[int, str] = field(default_factory=dict)


def content_hash(pairs: list[dict]) -> str:
    canonical = sorted((p["question"], p["answer"]) for p in pairs)
    body = json.dumps(canonical, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(body).hexdigest()[:16]


def current(store: Store) -> Snapshot:
    """The approved train pairs now, less those in an open conflict and those over their author's cap;
    held-out pairs never enter a snapshot."""
    approved = load_pairs(store, status="approved", split="train")
    if not approved:
        raise UchiError("no approved training pairs yet: import some (`uchi data import FILE --approve`) "
                        "or approve pending ones")
    blocked = conflicts.blocked(store)
    held_back = {p["id"]: "conflict" for p in approved if p["id"] in blocked}
    votes = {r["pair_id"]: r["n"] for r in store.rows(
        "SELECT pair_id, SUM(value) AS n FROM pair_votes GROUP BY pair_id")}
    pairs, capped = limits.cap_authors([p for p in approved if p["id"] not in blocked], limits.policy(store), votes)
    held_back |= {p["id"]: "author cap" for p in capped}
    if not pairs:
        raise UchiError(f"all {len(approved)} approved training pairs are held back (open conflicts or the author "
                        "cap); resolve conflicts with `uchi data conflicts`")
    return Snapshot(hash=content_hash(pairs), pairs=pairs, held_back=held_back)


def record(store: Store, snapshot: Snapshot) -> None:
    store.db["snapshots"].insert({"hash": snapshot.hash, "pair_ids": json.dumps([p["id"] for p in snapshot.pairs]),
                                  "n_pairs": len(snapshot.pairs), "created_at": now()}, ignore=True)


def load(store: Store, snapshot_hash: str) -> Snapshot:
    row = store.one("SELECT pair_ids FROM snapshots WHERE hash = ?", [snapshot_hash])
    if row is None:
        raise UchiError(f"no snapshot {snapshot_hash}")
    ids = json.loads(row["pair_ids"])
    by_id = {p["id"]: p for p in load_pairs(store)}
    return Snapshot(hash=snapshot_hash, pairs=[by_id[i] for i in ids if i in by_id])
