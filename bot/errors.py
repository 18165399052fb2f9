"""The bot's one error handler: every failure a Slack user meets is turned into a message here.

A UchiError becomes an ephemeral message saying what to do; a Slack API refusal is explained; anything
else is a bug: the user sees "something failed (error id …)" and the log gets the id, the exception type
and the stack, never the exception's message (it may quote what a user wrote). Under tests (strict)
a bug is also kept so that the test fails with it.
"""
from __future__ import annotations

import logging
import secrets
import traceback
from dataclasses import dataclass

from slack_bolt import BoltResponse
from slack_sdk.errors import SlackApiError

from uchi.bot.messages import text
from uchi.errors import UchiError
from uchi.evals import human

log = logging.getLogger("uchi.bot")
NOT_A_MEMBER = ("not_in_channel", "channel_not_found", "is_archived")


class Term(str):
    """A message key passed as a value: rendered in the reader's language too (e.g. a role or a status)."""


class BotError(UchiError):
    """A user-facing error with a message in the user's language (a key of messages.STRINGS)."""

    def __init__(self, key: str, **values):
        self.key, self.values = key, values
        super().__init__(self.render("en"))

    def render(self, lang: str) -> str:
        return text(lang, self.key, **{name: text(lang, value) if isinstance(value, Term) else value
                                       for name, value in self.values.items()})


class Refused(BotError):
    def __init__(self, role: str, action: str):
        super().__init__("refused", role=Term(f"role_{role}"), action=Term(f"action_{action}"))


def model_unavailable() -> BotError:
    return BotError("model_unavailable")


@dataclass
class Reply:
    """Where a failure should be told instead of an ephemeral: a placeholder to update, or a thread."""
    channel: str
    ts: str
    update: bool


def describe(error: BaseException, lang: str, body: dict) -> tuple[str, bool]:
    """The user's message, and whether this is a bug."""
    if isinstance(error, BotError):
        return error.render(lang), False
    if isinstance(error, human.Pending):  # /promote and the report's Promote button alike
        return text(lang, "promote_pending", version=error.version, votes=error.votes, needed=error.needed,
                    eval_id=error.eval_id), False
    if isinstance(error, UchiError):
        return text(lang, "user_error", message=str(error)), False
    error_id = secrets.token_hex(4)
    if isinstance(error, SlackApiError):
        code = error.response.get("error", "unknown")
        log.warning("error %s: Slack refused %s (%s) while handling %s", error_id, error.response.api_url.rsplit(
            "/", 1)[-1], code, kind(body))
        return text(lang, "not_in_channel" if code in NOT_A_MEMBER else "slack_refused", code=code,
                    error_id=error_id), False
    stack = "".join(traceback.format_tb(error.__traceback__))
    log.error("error %s: %s while handling %s\n%s", error_id, type(error).__name__, kind(body), stack)
    return text(lang, "unexpected", error_id=error_id), True


def kind(body: dict) -> str:
    """What was being handled, without any text a user wrote."""
    if "command" in body:
        return f"command {body['command']}"
    if body.get("type") == "event_callback":
        return f"event {body.get('event', {}).get('type')}"
    if body.get("type") == "block_actions":
        return "action " + ",".join(a.get("action_id", "?") for a in body.get("actions", []))
    if body.get("type") == "view_submission":
        return f"view {body.get('view', {}).get('callback_id')}"
    return str(body.get("type") or body.get("callback_id") or "request")


def install(app, services) -> None:
    def handle(error, body, context, client, respond, response):
        try:
            return _handle(error, body, context, client, respond, response)
        except Exception as failure:  # a bug in the handler itself: Bolt would drop it silently
            log.error("the error handler failed: %s\n%s", type(failure).__name__,
                      "".join(traceback.format_tb(failure.__traceback__)))
            if services.strict:
                services.bugs.append(failure)
            raise

    def _handle(error, body, context, client, respond, response):
        if context.authorize_result is None:
            # Failed before verification and authorization finished: the body may be forged, so nothing it
            # names (a user, a channel, a response_url) is contacted.
            log.warning("refused a request that failed before it was verified: %s", type(error).__name__)
            return BoltResponse(status=401, body="")
        message, bug = describe(error, services.language(context), body)
        if bug and services.strict:
            services.bugs.append(error)
        acked = context.ack is not None and context.ack.response is not None
        if not acked and response is not None:
            direct = synchronous_reply(body, message)
            if direct is not None:
                return direct
        deliver(client, respond if context.response_url else None, context, message)
        return None if acked or response is None else BoltResponse(status=200, body="")

    app.error(handle)


def report(services, client, context, body: dict, error: BaseException, respond=None) -> None:
    """A failure after the request was answered (a question's follow-up, an answer in the backlog): told where
    the question was (through `respond`, a slash command's response_url, when there is no placeholder yet)."""
    message, bug = describe(error, services.language(context), body)
    if bug and services.strict:
        services.bugs.append(error)
    deliver(client, respond if context.response_url else None, context, message)


def synchronous_reply(body: dict, message: str) -> BoltResponse | None:
    """A slash command or modal not yet acknowledged is answered in the HTTP response itself."""
    if "command" in body:
        return BoltResponse(status=200, body={"response_type": "ephemeral", "text": message})
    if body.get("type") == "view_submission":
        inputs = [b["block_id"] for b in body["view"].get("blocks", []) if b.get("type") == "input"]
        if inputs:
            return BoltResponse(status=200, body={"response_action": "errors", "errors": {inputs[0]: message}})
    return None


def deliver(client, respond, context, message: str) -> None:
    reply, channel, user = context.get("reply"), context.channel_id, context.user_id
    try:
        if reply is not None and reply.update:
            client.chat_update(channel=reply.channel, ts=reply.ts, text=message, blocks=[])
        elif reply is not None:
            client.chat_postMessage(channel=reply.channel, thread_ts=reply.ts, text=message)
        elif respond is not None:
            respond(text=message, response_type="ephemeral", replace_original=False)
        elif channel and user and not channel.startswith("D"):
            client.chat_postEphemeral(channel=channel, user=user, text=message)
        elif user:
            client.chat_postMessage(channel=user, text=message)
    except SlackApiError as exc:
        log.warning("could not tell the user about a failure: %s", exc.response.get("error"))
