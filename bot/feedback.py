"""Ratings, corrections and taught pairs from Slack.

A rating is upserted per (answer, user). A correction is a pending pair linked to the answer it corrects;
with the author's 👎 on that answer it is also kept as a preference pair (chosen = correction,
rejected = the bot's answer). Every pair enters the store through `add_pairs`, which redacts; the
author is told what was redacted.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from uchi.bot.errors import BotError
from uchi.bot.messages import text
from uchi.data import audit
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


def answer_on_message(store: Store, user: str, answer_id, channel: str | None, ts: str | None) -> dict:
    """The answer a button (or a modal's metadata) names, if it really is the answer posted at channel/ts.

    Button values and private_metadata come back from the client: they are checked, never trusted.
    """
    row = store.one("SELECT a.* FROM answer_messages m JOIN answers a ON a.id = m.answer_id "
                    "WHERE m.channel = ? AND m.ts = ?", [channel or "", ts or ""])
    if row is None or str(row["id"]) != str(answer_id):
        audit.record(store, user, "feedback", str(answer_id), "refused", f"answer not posted at {channel}/{ts}")
        raise BotError("forged")
    return row


def rate(store: Store, answer_id: int, user: str, value: int) -> None:
    stamp = now()
    with store.transaction():
        store.db.execute("INSERT INTO ratings (answer_id, user, value, created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
                         "ON CONFLICT (answer_id, user) DO UPDATE SET value = excluded.value, "
                         "updated_at = excluded.updated_at", [answer_id, user, value, stamp, stamp])


def problems(cfg, lang: str, question: str, answer: str, *, unchanged: str | None = None) -> dict[str, str]:
    """Errors to show inside the modal, by input block: empty, too long, the bot's answer unchanged."""
    found = {}
    for block, value, limit in (("question", question, cfg.data.max_question_chars),
                                ("answer", answer, cfg.data.max_answer_chars)):
        if not value.strip():
            found[block] = text(lang, "field_empty")
        elif len(value) > limit:
            found[block] = text(lang, "field_too_long", n=len(value), limit=limit)
    if "answer" not in found and unchanged is not None and answer.strip() == unchanged.strip():
        found["answer"] = text(lang, "answer_unchanged")
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
