"""Q&A pairs: adding them (every way data enters goes through add_pairs), reviewing them, reading them."""
from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field

from uchi.data import conflicts, dedup, limits, merge, paraphrases
from uchi.data.redact import redact
from uchi.data.store import Store, now
from uchi.data.text import question_key
from uchi.errors import UchiError
from uchi.language import LANGUAGES, detect_language

STATUSES = ("pending", "approved", "rejected")
PROGRESS_FROM = 2000
CHUNK = 1000  # pairs redacted and banded together (dedup.Index.prepare)


@dataclass
class NewPair:
    question: str
    answer: str
    language: str = ""
    category: str = ""
    facts: list[str] = field(default_factory=list)
    paraphrases: list[str] = field(default_factory=list)
    # An import of an export keeps each pair's status and author; empty: the batch's (add_pairs' arguments).
    status: str = ""
    author: str = ""


def assign_split(question: str, heldout_percent: int) -> str:
    """Deterministic in the question alone, so re-importing a pair can never move it into training."""
    digest = hashlib.sha256(question_key(question).encode("utf-8")).digest()
    return "heldout" if int.from_bytes(digest[:8], "big") % 100 < heldout_percent else "train"


def add_pairs(store: Store, pairs: list[NewPair], *, source: str, author: str, heldout_percent: int,
              status: str = "pending", reviewer: str | None = None, progress: bool = False,
              outcomes: list | None = None) -> list[int]:
    """Insert pairs (and their paraphrases) in one transaction, redacted; returns one pair id per input.

    Each pair is checked against the stored ones as it arrives: a repeat of an existing pair (the same
    question, an agreeing answer) is merged into it (recorded, with a vote) and its id returned; a
    different answer to the same question is stored and flagged as a conflict for reviewers. The author's
    rate limit and the review rules (data.* in uchi.toml) apply; see data/limits.py. With progress, a long
    batch shows a progress bar on a terminal's stderr. Into `outcomes`, one (pair id, "added" / "merged" /
    "conflict", the other pair ids) per input.
    """
    if status not in STATUSES:
        raise UchiError(f"status {status!r}: choose one of {', '.join(STATUSES)}")
    rules = limits.policy(store)
    limits.check_rate(store, rules, author=author, source=source, n=len(pairs))
    status, reviewer = limits.arrival_review(rules, author=author, source=source, status=status, reviewer=reviewer)
    ids, done = [], [] if outcomes is None else outcomes
    with store.transaction():
        dedup.backfill(store)
        index = dedup.Index(store)
        for pair, question, answer in _progress(_redacted(pairs, index), len(pairs), progress):
            pair_status, pair_reviewer = status, reviewer
            if pair.status and pair.status != status:  # a curated import of an export: as it was reviewed
                limits.check_reviewer(rules, author=author, source=source, reviewer=reviewer)
                pair_status = pair.status
            done.append(_add_one(store, index, rules, pair, question, answer, source=source,
                                 author=pair.author or author, heldout_percent=heldout_percent, status=pair_status,
                                 reviewer=pair_reviewer))
            ids.append(done[-1][0])
        index.flush()
    return ids


def _redacted(pairs: list[NewPair], index: dedup.Index):
    """(pair, its redacted question, its redacted answer), a chunk at a time, the chunk's bands computed together."""
    for start in range(0, len(pairs), CHUNK):
        chunk = [(pair, redact(pair.question).text, redact(pair.answer).text) for pair in pairs[start:start + CHUNK]]
        index.prepare([question for _, question, _ in chunk])
        yield from chunk


def _progress(items, total: int, wanted: bool):
    # Only where a person watches, and only when it lasts (about a second per 700 pairs at 100k).
    if not wanted or total < PROGRESS_FROM or not sys.stderr.isatty():
        return items
    from tqdm import tqdm

    return tqdm(items, total=total, desc="importing", unit=" pairs", file=sys.stderr, mininterval=0.5, leave=False)


def _add_one(store: Store, index: dedup.Index, rules, pair: NewPair, question: str, answer: str, *, source: str,
             author: str, heldout_percent: int, status: str, reviewer: str | None) -> tuple[int, str, list[int]]:
    placement = dedup.place(store, question, answer, duplicate_threshold=rules.duplicate_threshold,
                            agree_threshold=rules.agree_threshold, within=index)
    if placement.merge_into is not None:
        into = placement.merge_into["id"]
        # The same file imported again repeats itself, not the pair: recorded (and voted) once.
        if not store.one("SELECT 1 FROM pair_merges WHERE pair_id = ? AND question = ? AND answer = ? AND author = ?",
                         [into, question, answer, author]):
            merge.record_repeat(store, into, question=question, answer=answer, author=author, source=source)
        _add_paraphrases(store, into, pair.paraphrases, source)
        return into, "merged", [into]
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
    columns = ", ".join(row)
    pair_id = store.db.execute(f"INSERT INTO pairs ({columns}) VALUES ({', '.join('?' * len(row))})",
                               list(row.values())).lastrowid
    index.add(pair_id, question)
    for near in placement.conflicts:
        conflicts.flag(store, near.pair["id"], pair_id, near.similarity)
    _add_paraphrases(store, pair_id, pair.paraphrases, source)
    others = [near.pair["id"] for near in placement.conflicts]
    return pair_id, "conflict" if others else "added", others


def _add_paraphrases(store: Store, pair_id: int, texts: list[str], source: str) -> None:
    if texts:
        paraphrases.add(store, pair_id, texts, source=paraphrases.source_of(source), origin=source)


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


def rewrite(cfg, store: Store, pair: dict, question: str, answer: str, reviewer: str) -> tuple[dict, list[str]]:
    """A reviewer's rewrite of a pending pair, redacted like every pair, then approved; returns the pair and
    the kinds redacted. The split follows the new question; facts no longer in the answer are dropped."""
    q, a = redact(question.strip()), redact(answer.strip())
    facts = [fact for fact in json.loads(pair["facts"] or "[]") if fact in a.text]
    same = question_key(q.text) == question_key(pair["question"])
    with store.transaction():
        # An edited question is re-indexed for near-duplicates by the store itself (0002_quality.sql).
        store.db["pairs"].update(pair["id"], {
            "question": q.text, "answer": a.text,
            "question_key": pair["question_key"] if same else free_key(store, question_key(q.text)),
            "split": assign_split(q.text, cfg.data.heldout_percent), "language": detect_language(q.text + a.text),
            "facts": json.dumps(facts, ensure_ascii=False), "updated_at": now()})
        review(store, [pair["id"]], "approved", reviewer)
    return store.one("SELECT * FROM pairs WHERE id = ?", [pair["id"]]), q.kinds + a.kinds


def load_pairs(store: Store, *, status: str | None = None, split: str | None = None) -> list[dict]:
    rows = store.matching("pairs", status=status, split=split)
    for row in rows:
        row["facts"] = json.loads(row["facts"])
    return rows
