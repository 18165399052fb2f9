"""Ratings, corrections and taught pairs, from any front end (Slack, the web console).

A rating is upserted per (answer, user). A correction is a pending pair linked to the answer it corrects;
with the author's 👎 on that answer it is also kept as a preference pair (chosen = correction,
rejected = the model's answer). Every pair enters the store through `add_pairs`, which redacts; the
author is told what was redacted.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from uchi.data.pairs import NewPair, add_pairs
from uchi.data.redact import redact
from uchi.data.store import Store, now


@dataclass
class Saved:
    pair_id: int
    redacted: list[str] = field(default_factory=list)
    status: str = "pending"
    merged: bool = False      # the submission repeated an existing pair and counts as a vote for it
    preference: bool = False


def rate(store: Store, answer_id: int, user: str, value: int) -> None:
    stamp = now()
    with store.transaction():
        store.db.execute("INSERT INTO ratings (answer_id, user, value, created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
                         "ON CONFLICT (answer_id, user) DO UPDATE SET value = excluded.value, "
                         "updated_at = excluded.updated_at", [answer_id, user, value, stamp, stamp])


def problems(cfg, question: str, answer: str, *, unchanged: str | None = None) -> dict[str, tuple[str, dict]]:
    """What is wrong with a submission, by field: (message key, its values) for the front end to word."""
    found = {}
    for name, value, limit in (("question", question, cfg.data.max_question_chars),
                               ("answer", answer, cfg.data.max_answer_chars)):
        if not value.strip():
            found[name] = ("field_empty", {})
        elif len(value) > limit:
            found[name] = ("field_too_long", {"n": len(value), "limit": limit})
    if "answer" not in found and unchanged is not None and answer.strip() == unchanged.strip():
        found["answer"] = ("answer_unchanged", {})
    return found


def save(cfg, store: Store, question: str, answer: str, *, author: str, source: str,
         corrected: dict | None = None) -> Saved:
    """Store a pending pair (linked to the corrected answer, if any); returns what the author should be told.

    add_pairs merges a repeat of an existing pair into it (a vote) and stores a different answer to a known
    question as a conflict for reviewers, so a correction of a trained fact is never lost.
    """
    question, answer = question.strip(), answer.strip()
    kinds = redact(question).kinds + redact(answer).kinds
    with store.transaction():
        newest = store.one("SELECT COALESCE(MAX(id), 0) AS id FROM pairs")["id"]
        [pair_id] = add_pairs(store, [NewPair(question=question, answer=answer)], source=source, author=author,
                              heldout_percent=cfg.data.heldout_percent)
        pair = store.one("SELECT id, status FROM pairs WHERE id = ?", [pair_id])
        saved = Saved(pair_id, kinds, status=pair["status"], merged=pair_id <= newest)
        if corrected is not None and not saved.merged:
            store.db["pairs"].update(pair_id, {"answer_id": corrected["id"]})
        if corrected is not None and store.one("SELECT 1 FROM ratings WHERE answer_id = ? AND user = ? AND "
                                               "value = -1", [corrected["id"], author]):
            store.db["preference_pairs"].insert({
                "answer_id": corrected["id"], "pair_id": pair_id, "prompt": redact(corrected["question"]).text,
                "chosen": redact(answer).text, "rejected": redact(corrected["answer"]).text, "author": author,
                "created_at": now()})
            saved.preference = True
    return saved
