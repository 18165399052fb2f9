"""HTTP mode: uvicorn serving one Starlette route, Slack's requests handed to Bolt with its Starlette adapter's
conversions. Slack posts commands, events and interactivity to http(s)://HOST/slack/events; put it behind
your TLS-terminating proxy (Slack only calls https URLs).

Every request is verified here, before Bolt or uchi reads a byte of it: a missing, malformed or stale
timestamp or a wrong signature is answered 401 and nothing it names is contacted. A verified body Bolt
could not parse is answered 400 with the reason. Bolt's dispatch runs the listener up to its ack (bot/app.py:
the listener returns then, its work continues on the follow-up threads); a request may still wait for the store
or Slack before its ack (an admin's role check, a form's validation), so dispatch runs on Starlette's worker
threads (anyio's default limiter: 40 at once), never on the event loop.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import re
import socket
import threading
import time
from urllib.parse import parse_qs

import uvicorn
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

PATH = "/slack/events"
# Slack refuses requests older than five minutes; so does its SDK's verifier.
MAX_AGE_S = 5 * 60
# Connections the kernel holds while all workers are busy; wsgiref's 5 reset most of a burst.
BACKLOG = 2048
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
log = logging.getLogger("uchi.bot")


def unverified(secret: str, headers, body: bytes, now: float | None = None) -> str | None:
    """Why this request is not provably from Slack, or None. Never raises (a bad timestamp is a reason)."""
    timestamp = headers.get("x-slack-request-timestamp") or ""
    signature = headers.get("x-slack-signature") or ""
    if not _TIMESTAMP.fullmatch(timestamp):
        return "missing or malformed X-Slack-Request-Timestamp"
    if abs((time.time() if now is None else now) - int(timestamp)) > MAX_AGE_S:
        return "stale X-Slack-Request-Timestamp"
    expected = "v0=" + hmac.new(secret.encode("utf-8"), b"v0:" + timestamp.encode("ascii") + b":" + body,
                                hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace")):
        return "invalid X-Slack-Signature"
    return None


def malformed(content_type: str, body: bytes) -> str | None:
    """Why Bolt (or a listener) could not read this verified body, or None."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "the body is not UTF-8"
    # Bolt parses as JSON when the type says so or the body starts with "{" (whatever the type says).
    if "application/json" in content_type or text.startswith("{"):
        return _json_problem(text)
    form = parse_qs(text, keep_blank_values=True)
    if "payload" in form:
        try:
            payload = json.loads(form["payload"][0])
        except ValueError:
            return "payload is not valid JSON"
        return _payload_problem(payload)
    if "command" in form:
        missing = [k for k in ("command", "user_id", "channel_id") if not (form.get(k) or [""])[0]]
        return f"slash command without {', '.join(missing)}" if missing else None
    if "ssl_check" in form:
        return None
    return "neither a slash command, an interactive payload nor an event"


def _json_problem(text: str) -> str | None:
    try:
        data = json.loads(text)
    except ValueError:
        return "the body is not valid JSON"
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return "the body is not a JSON object with a type"
    if data["type"] == "event_callback":
        event = data.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return "event_callback without an event object with a type"
    return None


def _payload_problem(payload) -> str | None:
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        return "payload is not a JSON object with a type"
    kind = payload["type"]
    user = payload.get("user")
    if kind in ("block_actions", "view_submission", "view_closed", "message_action", "shortcut") and not (
            isinstance(user, dict) and isinstance(user.get("id"), str)):
        return f"{kind} without user.id"
    if kind == "block_actions":
        actions = payload.get("actions")
        if not isinstance(actions, list) or not actions or not all(
                isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions):
            return "block_actions without actions (each with an action_id)"
    if kind in ("view_submission", "view_closed"):
        view = payload.get("view")
        if not isinstance(view, dict) or not isinstance(view.get("type"), str) \
                or not isinstance(view.get("callback_id"), str):
            return f"{kind} without view.type and view.callback_id"
        if kind == "view_submission" and not isinstance((view.get("state") or {}).get("values"), dict):
            return "view_submission without view.state.values"
    if kind in ("message_action", "shortcut") and not isinstance(payload.get("callback_id"), str):
        return f"{kind} without callback_id"
    return None


def asgi(app: App, secret: str, acks=None) -> Starlette:
    """`acks` (services.Acks) counts the requests not yet answered, from their first byte to their response."""
    async def events(request: Request) -> Response:
        with acks.pending() if acks is not None else contextlib.nullcontext():
            return await respond(request)

    async def respond(request: Request) -> Response:
        body = await request.body()
        reason = unverified(secret, request.headers, body)
        if reason:
            log.info("refused an unverified request: %s", reason)
            return PlainTextResponse(reason, status_code=401)
        reason = malformed(request.headers.get("content-type", ""), body)
        if reason:
            log.info("refused a malformed request: %s", reason)
            return PlainTextResponse(reason, status_code=400)
        answer = await run_in_threadpool(app.dispatch, to_bolt_request(request, body))
        return to_starlette_response(answer)

    return Starlette(routes=[Route(PATH, events, methods=["POST"])])


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):
        # `uchi bot` handles SIGTERM/SIGINT itself: after the server stops it still finishes or tells the
        # answers under way, which uvicorn's re-raised signal would cut short.
        yield


class Front:
    """uvicorn on host:port (0 picks a free port: see `server_port`). `serve_forever()` runs until SIGTERM/
    SIGINT (when on the main thread) or `shutdown()`; it then finishes the responses under way."""

    def __init__(self, app: App, secret: str, host: str, port: int, grace_s: float = 10.0, acks=None):
        self.socket = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET,
                                           backlog=BACKLOG)
        self.server_port = self.socket.getsockname()[1]
        self.server = _Server(uvicorn.Config(
            asgi(app, secret, acks), backlog=BACKLOG, lifespan="off", access_log=False, log_level="warning",
            timeout_graceful_shutdown=grace_s))
        self._done = threading.Event()

    def serve_forever(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self.socket]))
        finally:
            self._done.set()

    def shutdown(self, timeout: float = 15.0) -> None:
        self.server.should_exit = True
        self._done.wait(timeout)

    def server_close(self) -> None:
        self.socket.close()


def serve(app: App, host: str, port: int, secret: str, grace_s: float = 10.0, acks=None) -> Front:
    return Front(app, secret, host, port, grace_s, acks)
