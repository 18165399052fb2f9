"""Answering in Slack: a "thinking…" placeholder at once, the thread's (or DM's) earlier turns as context,
the production adapter's answer written over the placeholder, and where it was posted recorded so that
its buttons can be checked later.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from uchi.bot import blocks
from uchi.bot.backlog import Job
from uchi.bot.errors import BotError, Reply, model_unavailable, report
from uchi.data.store import Store
from uchi.data.text import clean
from uchi.errors import UchiError
from uchi.serving.answers import Answer, ask

log = logging.getLogger("uchi.bot")
_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_LINK = re.compile(r"<(?:[#!]?[^|>]*\|)?([^>]*)>")
CONTEXT_CHARS = 1500


@dataclass
class Question:
    text: str
    asker: str
    channel: str
    ts: str                 # the asking message; context stops before it
    thread_ts: str | None   # the thread the question was asked in, if any
    in_thread: bool = True  # answer in a (new) thread; a top-level DM is answered in the DM itself


def question_text(raw: str, bot_user: str | None) -> str:
    """What the user wrote, as plain text: the bot's mention dropped, Slack's markup and escaping undone."""
    value = _USER.sub(lambda m: "" if m.group(1) == bot_user else f"@{m.group(1)}", clean(raw))
    value = _LINK.sub(lambda m: m.group(1), value)
    value = value.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return re.sub(r"[ \t]+", " ", value).strip()


def check(cfg, question: str) -> None:
    if not question:
        raise BotError("empty_question")
    if len(question) > cfg.data.max_question_chars:
        raise BotError("question_too_long", n=len(question), limit=cfg.data.max_question_chars)


def history(client, store: Store, limit: int, q: Question, bot_user: str | None) -> list[dict]:
    """Earlier turns of this thread (or this DM), oldest first; never anything from another conversation."""
    if not limit:
        return []
    if q.thread_ts:
        found = client.conversations_replies(channel=q.channel, ts=q.thread_ts, limit=100)["messages"]
    elif not q.in_thread:
        found = list(reversed(client.conversations_history(channel=q.channel, latest=q.ts, inclusive=False,
                                                           limit=2 * limit)["messages"]))
    else:
        return []
    turns: list[dict] = []
    for message in found:
        if float(message["ts"]) < float(q.ts) and not message.get("subtype"):
            turns += _turns(store, q.channel, message, turns, bot_user)
    return turns[-limit:]


def _turns(store: Store, channel: str, message: dict, before: list[dict], bot_user: str | None) -> list[dict]:
    if message.get("bot_id") or message.get("user") == bot_user:
        # Only the bot's answers are context; placeholders and notices are not. /ask threads have no human
        # question message, so the logged question stands in for it.
        row = store.one("SELECT a.question, a.answer FROM answer_messages m JOIN answers a ON a.id = m.answer_id "
                        "WHERE m.channel = ? AND m.ts = ?", [channel, message["ts"]])
        if row is None:
            return []
        asked = [] if before and before[-1]["role"] == "user" else [_turn("user", row["question"])]
        return asked + [_turn("assistant", row["answer"])]
    text = question_text(message.get("text", ""), bot_user)
    return [_turn("user", text)] if text else []


def _turn(role: str, content: str) -> dict:
    return {"role": role, "content": content[:CONTEXT_CHARS]}


def after_ack(services, client, context, body: dict, work, respond=None) -> None:
    """Run `work`, what a listener does after its ack, on the follow-up threads (services.py): the request's
    thread returns Slack's ack at once, and the work waits for the acks still pending (services.Acks). A failure
    is told as the error handler would tell it."""
    def run() -> None:
        try:
            services.acks.wait()
            work()
        except Exception as error:
            report(services, client, context, body, error, respond)

    services.followups.submit(run)


def ack_then(ack, client, context, body: dict, work, respond=None) -> None:
    """Ack, then run `work` after the ack (after_ack). The App answers Slack as soon as its listener returns
    (bot/app.py: process_before_response), so a listener returns right after its ack and never raises after it:
    a failure in `work` is told through report() instead of turning the acked request into an HTTP 500."""
    ack()
    after_ack(context["uchi"], client, context, body, work, respond)


def answer(services, client, context, lang: str, q: Question, body: dict) -> None:
    """Post the placeholder (with the asker's place in line when others wait) and queue the answering;
    the listener returns at once, so Slack's ack never waits for the model."""
    check(services.cfg, q.text)
    thread = q.thread_ts or (q.ts if q.in_thread else None)
    placeholder = client.chat_postMessage(channel=q.channel, thread_ts=thread,
                                          **blocks.thinking(lang, services.backlog.ahead()))
    context["reply"] = Reply(q.channel, placeholder["ts"], update=True)

    def run() -> None:
        try:
            complete(services, client, context, lang, q, placeholder["ts"], thread)
        except Exception as error:  # told over the placeholder, as the error handler would
            report(services, client, context, body, error)

    def drop() -> None:
        report(services, client, context, body, BotError("stopping"))

    if not services.backlog.submit(Job(run, drop)):
        raise BotError("busy", limit=services.backlog.limit)


def complete(services, client, context, lang: str, q: Question, placeholder: str, thread: str | None) -> Answer:
    """Answer, write the answer over the placeholder; returns the logged answer."""
    with services.store() as store:
        turns = history(client, store, services.cfg.slack.context_messages, q, context.bot_user_id)
        row = _ask(services, store, q, turns)
        parts = blocks.answer_messages(lang, row)
        log.info("answer #%s by %s in %.0f ms, %d context turns, %d message(s)", row.id,
                 row.adapter_version or "the base model", row.latency_ms, len(turns), len(parts))
        # Recorded before the buttons appear, so that a quick click finds its answer.
        store.db["answer_messages"].insert({"answer_id": row.id, "channel": q.channel, "ts": placeholder,
                                            "thread_ts": thread})
        client.chat_update(channel=q.channel, ts=placeholder, **parts[0])
        last = placeholder
        for part in parts[1:]:
            last = client.chat_postMessage(channel=q.channel, thread_ts=thread, **part)["ts"]
        if last != placeholder:  # a long answer: the buttons are on its last message
            store.db["answer_messages"].update(row.id, {"ts": last})
    return row


def _ask(services, store: Store, q: Question, turns: list[dict]) -> Answer:
    try:
        return ask(services.cfg, store, services.model, q.text, asker=q.asker, channel=q.channel, history=turns)
    except UchiError:
        if services.model.healthy():
            raise
        raise model_unavailable() from None
