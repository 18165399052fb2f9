"""Q&A pairs: adding them (every way data enters goes through add_pairs), reviewing them, reading them."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from uchi.data import conflicts, dedup, limits, merge
from uchi.data.redact import redact
from uchi.data.store import Store, now
from uchi.data.text import question_key
from uchi.errors import UchiError
from uchi.language import LANGUAGES, detect_language

STATUSES = ("pending", "approved", "rejected")


@dataclass
class NewPair:
    question: str
    answer: str
    language: str = ""
    category: str = ""
    facts: list[str] = field(default_factory=list)
    paraphrases: list[str] = field(default_factory=list)


def assign_split(question: str, heldout_percent: int) -> str:
    """Deterministic in the question alone, so re-importing a pair can never move it into training."""
    digest = hashlib.sha256(question_key(question).encode("utf-8")).digest()
    return "heldout" if int.from_bytes(digest[:8], "big") % 100 < heldout_percent else "train"


def add_pairs(store: Store, pairs: list[NewPair], *, source: str, author: str, heldout_percent: int,
              status: str = "pending", reviewer: str | None = None) -> list[int]:
    """Insert pairs (and their paraphrases) in one transaction, redacted; returns one pair id per input.

    Each pair is checked against the stored ones as it arrives: a repeat of an existing pair (the same
    question, an agreeing answer) is merged into it (recorded, with a vote) and its id returned; a
    different answer to the same question is stored and flagged as a conflict for reviewers. The author's
    rate limit and the review rules (data.* in uchi.toml) apply; see data/limits.py.
    """
    if status not in STATUSES:
        raise UchiError(f"status {status!r}: choose one of {', '.join(STATUSES)}")
    rules = limits.policy(store)
    limits.check_rate(store, rules, author=author, source=source, n=len(pairs))
    status, reviewer = limits.arrival_review(rules, author=author, source=source, status=status, reviewer=reviewer)
    ids = []
    with store.transaction():
        dedup.backfill(store)
        for pair in pairs:
            ids.append(_add_one(store, rules, pair, source=source, author=author, heldout_percent=heldout_percent,
                                status=status, reviewer=reviewer))
    return ids


def _add_one(store: Store, rules, pair: NewPair, *, source: str, author: str, heldout_percent: int, status: str,
             reviewer: str | None) -> int:
    question, answer = redact(pair.question).text, redact(pair.answer).text
    placement = dedup.place(store, question, answer, duplicate_threshold=rules.duplicate_threshold,
                            agree_threshold=rules.agree_threshold)
    if placement.merge_into is not None:
        merge.record_repeat(store, placement.merge_into["id"], question=question, answer=answer, author=author,
                            source=source)
        _add_paraphrases(store, placement.merge_into["id"], pair.paraphrases, source)
        return placement.merge_into["id"]
    language = pair.language or detect_language(question + answer)
    if language not in LANGUAGES:
        raise UchiError(f"language {language!r}: choose one of {', '.join(LANGUAGES)}")
    stamp = now()
    row = {
        "question": question, "answer": answer, "language": language, "category": pair.category,
        "facts": json.dumps([fact for fact in pair.facts if fact in answer], ensure_ascii=False),
        "source": source, "author": author, "status": status, "split": assign_split(question, heldout_percent),
        "question_key": free_key(store, question_key(question)),
        "reviewed_by": reviewer if status != "pending" else None,
        "reviewed_at": stamp if status != "pending" else None, "created_at": stamp, "updated_at": stamp,
    }
    pair_id = store.db["pairs"].insert(row).last_pk
    dedup.index(store, pair_id, question)
    for near in placement.conflicts:
        conflicts.flag(store, near.pair["id"], pair_id, near.similarity)
    _add_paraphrases(store, pair_id, pair.paraphrases, source)
    return pair_id


def _add_paraphrases(store: Store, pair_id: int, texts: list[str], source: str) -> None:
    for text in texts:
        store.db["paraphrases"].insert({"pair_id": pair_id, "question": redact(text).text, "source": source,
                                        "created_at": now()}, ignore=True)


def free_key(store: Store, key: str) -> str:
    """The question's key, or a numbered variant when the same question already has a different answer."""
    candidate, n = key, 1
    while store.one("SELECT 1 FROM pairs WHERE question_key = ?", [candidate]):
        n += 1
        candidate = f"{key}#{n}"
    return candidate


def review(store: Store, pair_ids: list[int], status: str, reviewer: str) -> int:
    """Approve or reject pending (or previously reviewed) pairs; returns how many changed."""
    if status not in ("approved", "rejected"):
        raise UchiError(f"review status {status!r}: use approved or rejected")
    stamp, rules = now(), limits.policy(store)
    with store.transaction():
        changed = 0
        for pair_id in pair_ids:
            pair = store.one("SELECT author, source FROM pairs WHERE id = ?", [pair_id])
            if pair is None:
                raise UchiError(f"no pair #{pair_id}; list pending pairs with `uchi data export --status pending`")
            if status == "approved":
                limits.check_reviewer(rules, author=pair["author"], source=pair["source"], reviewer=reviewer)
            store.db["pairs"].update(pair_id, {"status": status, "reviewed_by": reviewer,
                                               "reviewed_at": stamp, "updated_at": stamp})
            changed += 1
    return changed


def load_pairs(store: Store, *, status: str | None = None, split: str | None = None) -> list[dict]:
    rows = store.matching("pairs", status=status, split=split)
    for row in rows:
        row["facts"] = json.loads(row["facts"])
    return rows


def paraphrases_of(store: Store, pair_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for row in store.rows("SELECT pair_id, question FROM paraphrases ORDER BY id"):
        if row["pair_id"] in pair_ids:
            found.setdefault(row["pair_id"], []).append(row["question"])
    return found
