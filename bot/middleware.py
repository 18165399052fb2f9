"""Global middleware: drop repeated events, then hand listeners the services and the user's language.

A middleware that drops a request must still answer 200: Bolt answers 404 to a request no middleware
passed on, and Slack retries what got a 404.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

from slack_bolt import BoltResponse

from uchi.bot import blocks
from uchi.bot.listeners import actions, commands, events, shortcuts, views
from uchi.bot.messages import text
from uchi.data.store import Store, now

KEEP_CLAIMS = timedelta(days=1)
# Slack's retries come after 1 s, 1 min and 5 min; the store's claims catch anything later.
RECENT_S, RECENT_MOST = 600, 50_000


def register(app, services) -> None:
    recent = Recent()

    def once(body, context, next):
        """Slack retries an event (same event_id, X-Slack-Retry-Num) and sends both app_mention and message
        for one message mentioning the bot: only the first claim is answered.

        The store's claim (which also holds across bot processes and restarts) is left to the listener, after
        the ack: with another writer holding SQLite's lock, a claim here held a mention's ack for 8.5 s and
        Slack resent the event (docs/reliability.md). This process's own memory answers the common repeats
        at once, without the store."""
        if body.get("type") != "event_callback":
            return next()
        event = body.get("event", {})
        keys = [f"event:{body.get('event_id')}"]
        if event.get("type") in ("app_mention", "message") and event.get("ts"):
            keys.append(f"message:{event.get('channel')}:{event['ts']}")
        if not recent.first(keys):
            return BoltResponse(status=200, body="")

        def claimed() -> bool:
            with services.store() as store:
                return claim(store, keys)

        context["claimed"] = claimed
        return next()

    def inject(body, context, next):
        """Questions (/ask, mentions, DMs) are acked before anything asks Slack or the store: their listener
        looks the user's language up after the ack (services.language). Everything else finds it here."""
        context["uchi"] = services
        if not acked_first(body):
            services.language(context)
        return next()

    def unknown(body, context, client, next):
        """A command, button, form or shortcut no listener knows (an old message, a manifest ahead of the
        code) gets a polite reply instead of Bolt's 404; an event nobody listens to is simply acknowledged."""
        name = unknown_name(body)
        if name is None:
            return next()
        if body.get("type") == "event_callback":
            return BoltResponse(status=200, body="")
        message = text(context["lang"], "unknown_interaction", name=blocks.safe(name)[:80])
        if "command" in body:
            return BoltResponse(status=200, body={"response_type": "ephemeral", "text": message})
        if body.get("type") == "view_submission":
            return BoltResponse(status=200, body={"response_action": "update",
                                                  "view": blocks.notice_view(context["lang"], "unknown_title",
                                                                             [message])})
        if context.respond is not None:
            context.respond(text=message, response_type="ephemeral", replace_original=False)
        elif context.user_id:
            client.chat_postMessage(channel=context.user_id, text=message)
        return BoltResponse(status=200, body="")

    app.use(once)
    app.use(inject)
    app.use(unknown)


def acked_first(body: dict) -> bool:
    """Events (their listeners only hand the work on: answering.after_ack) and the commands that ack first."""
    return body.get("type") == "event_callback" or commands.acks_first(body.get("command"))


def unknown_name(body: dict) -> str | None:
    """The name of what this request asks for when no listener is registered for it, else None."""
    kind = body.get("type")
    if "command" in body:
        name, known = body["command"], commands.COMMANDS
    elif kind == "event_callback":
        name, known = body["event"]["type"], {e.split(".")[0] for e in events.EVENTS}
    elif kind == "block_actions":
        found = [a["action_id"] for a in body["actions"] if a["action_id"] not in actions.ACTIONS]
        return found[0] if found else None
    elif kind == "view_submission":
        name, known = body["view"]["callback_id"], views.VIEWS
    elif kind in ("message_action", "shortcut"):
        name, known = body["callback_id"], shortcuts.SHORTCUTS
    else:
        return None
    return None if name in known else str(name)


class Recent:
    """Event keys this process has seen in the last RECENT_S seconds."""

    def __init__(self):
        self.seen: dict[str, float] = {}
        self.lock = threading.Lock()

    def first(self, keys: list[str]) -> bool:
        """True when none of the keys was seen lately; records them."""
        moment = time.monotonic()
        with self.lock:
            if len(self.seen) > RECENT_MOST:
                self.seen = {k: t for k, t in self.seen.items() if t > moment - RECENT_S}
            fresh = not any(self.seen.get(k, float("-inf")) > moment - RECENT_S for k in keys)
            self.seen.update(dict.fromkeys(keys, moment))
        return fresh


def claim(store: Store, keys: list[str]) -> bool:
    """True when none of the keys was claimed before; claims older than a day are forgotten."""
    cutoff = (datetime.now(timezone.utc) - KEEP_CLAIMS).isoformat(timespec="milliseconds")
    with store.transaction():
        store.db.execute("DELETE FROM event_claims WHERE created_at < ?", [cutoff])
        inserted = [store.db.execute("INSERT OR IGNORE INTO event_claims (key, created_at) VALUES (?, ?)",
                                     [key, now()]).rowcount for key in keys]
    return all(inserted)
