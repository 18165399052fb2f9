"""The held-out split, stratified by language: a hash of the question decides (pairs.assign_split), then each
language present gets at least data.heldout_min_per_language held-out pairs, taken from pairs that arrive now.

A 35-pair handbook held out 4 pairs by hash alone, all English, so Japanese was never measured. The floor
tops a language up from the pairs being added (never from stored ones, which a run may already have trained
on: those are never moved), choosing by the same question hash, so the split stays a deterministic function
of the store and the batch. It takes at most a quarter of a language's pairs, so a handful of pairs still
trains. A store whose languages already fall short is reported by `shortfall`, not silently changed.
"""
from __future__ import annotations

import hashlib
import json

from uchi.data.store import Store, now
from uchi.data.text import question_key

MAX_SHARE = 4  # a language holds out at most 1 in MAX_SHARE of its pairs to meet the floor


def _rank(question: str) -> bytes:
    return hashlib.sha256(("floor:" + question_key(question)).encode("utf-8")).digest()


def _held(store: Store, language: str) -> int:
    return store.one("SELECT COUNT(*) AS n FROM pairs WHERE language = ? AND split = 'heldout' AND status != 'rejected'",
                     [language])["n"]


def apply_floor(store: Store, new_ids: list[int], floor: int) -> list[int]:
    """Move just-added train pairs to held-out until each language meets the floor; returns the moved ids."""
    if floor <= 0 or not new_ids:
        return []
    marks = ",".join("?" * len(new_ids))
    fresh = store.rows(f"SELECT id, question, language FROM pairs WHERE id IN ({marks}) AND split = 'train' "
                       "AND status != 'rejected'", list(new_ids))
    trained = _trained_ids(store)
    moved = []
    for language in sorted({p["language"] for p in fresh}):
        total = store.one("SELECT COUNT(*) AS n FROM pairs WHERE language = ? AND status != 'rejected'",
                          [language])["n"]
        wanted = min(floor, total // MAX_SHARE) - _held(store, language)
        candidates = sorted((p for p in fresh if p["language"] == language and p["id"] not in trained),
                            key=lambda p: _rank(p["question"]))
        for pair in candidates[:max(0, wanted)]:
            store.db["pairs"].update(pair["id"], {"split": "heldout", "updated_at": now()})
            moved.append(pair["id"])
    return moved


def shortfall(store: Store, floor: int) -> dict[str, tuple[int, int]]:
    """language -> (held-out approved pairs, floor) for each language below its floor."""
    short = {}
    for row in store.rows("SELECT language, SUM(split = 'heldout') AS held, COUNT(*) AS n FROM pairs "
                          "WHERE status = 'approved' GROUP BY language"):
        want = min(floor, row["n"] // MAX_SHARE)
        if row["held"] < want:
            short[row["language"]] = (row["held"], want)
    return short


def _trained_ids(store: Store) -> set[int]:
    return {pid for row in store.rows("SELECT pair_ids FROM snapshots") for pid in json.loads(row["pair_ids"])}
