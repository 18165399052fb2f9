"""Reviewing pending pairs from Slack: the App Home queue, approve / edit / reject, and telling the author.

Only approved pairs are trained on (snapshots take approved train pairs only).
"""
from __future__ import annotations

import json
import logging

from slack_sdk.errors import SlackApiError

from uchi.bot import blocks
from uchi.bot.errors import BotError, Term
from uchi.bot.messages import text
from uchi.data.pairs import assign_split, free_key, review
from uchi.data.redact import redact
from uchi.data.store import Store, now
from uchi.data.text import question_key
from uchi.language import detect_language

log = logging.getLogger("uchi.bot")


def pending(store: Store, limit: int) -> tuple[list[dict], int]:
    rows = store.rows("SELECT * FROM pairs WHERE status = 'pending' ORDER BY id LIMIT ?", [limit])
    return rows, store.one("SELECT COUNT(*) AS n FROM pairs WHERE status = 'pending'")["n"]


def pending_pair(store: Store, pair_id) -> dict:
    """The pair a button or modal names, if it exists and still waits for review."""
    pair = store.one("SELECT * FROM pairs WHERE id = ?", [_int(pair_id)])
    if pair is None:
        raise BotError("no_pair", pair_id=pair_id)
    if pair["status"] != "pending":
        raise _already(pair)
    return pair


def _already(pair: dict) -> BotError:
    return BotError("already_reviewed", pair_id=pair["id"], reviewer=pair["reviewed_by"] or "?",
                    status=Term(f"status_{pair['status']}"))


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BotError("no_pair", pair_id=str(value)[:20]) from None


def decide(store: Store, pair_id, status: str, reviewer: str) -> dict:
    pair = pending_pair(store, pair_id)
    review(store, [pair["id"]], status, reviewer)
    return store.one("SELECT * FROM pairs WHERE id = ?", [pair["id"]])


def edit_and_approve(cfg, store: Store, pair_id, question: str, answer: str, reviewer: str) -> tuple[dict, list]:
    """A reviewer's rewrite, redacted like every pair, then approved. The split follows the new question."""
    pair = pending_pair(store, pair_id)
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


def notify_author(client, locales, pair: dict) -> None:
    """Tell a Slack author the outcome in their language; pairs from imports have no one to tell."""
    if not pair["source"].startswith("slack:"):
        return
    lang = locales.of(client, pair["author"])
    key = "author_approved" if pair["status"] == "approved" else "author_rejected"
    question = blocks.safe(pair["question"][:200])
    try:
        client.chat_postMessage(channel=pair["author"], text=text(lang, key, pair_id=pair["id"], question=question))
    except SlackApiError as exc:
        # The review stands even if the author cannot be reached (e.g. deactivated).
        log.warning("could not notify the author of pair #%s: %s", pair["id"], exc.response.get("error"))


def publish_home(services, client, user: str, lang: str) -> None:
    with services.store() as store:
        queue = pending(store, services.cfg.slack.review_page_size) if services.roles.is_reviewer(client, user) \
            else None
    view = blocks.home(lang, services.cfg.company.name, *(queue or (None, 0)))
    client.views_publish(user_id=user, view=view)
