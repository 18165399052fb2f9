"""Ratings, corrections and taught pairs from Slack: checking that a button names the answer it was posted
with, and the modal's field errors in the user's language. Storing them is data/feedback.py's.
"""
from __future__ import annotations

from uchi.bot.errors import BotError
from uchi.bot.messages import text
from uchi.data import audit, feedback
from uchi.data.store import Store


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


def problems(cfg, lang: str, question: str, answer: str, *, unchanged: str | None = None) -> dict[str, str]:
    """Errors to show inside the modal, by input block: empty, too long, the bot's answer unchanged."""
    return {block: text(lang, key, **params)
            for block, (key, params) in feedback.problems(cfg, question, answer, unchanged=unchanged).items()}
