"""A fake Slack for the bot's tests: the Web API on 127.0.0.1:0 and requests signed as Slack signs them.

`FakeSlack` answers the Web API methods the bot uses (plus file upload URLs and response_url webhooks),
records every call, keeps the messages of each channel (so conversations.replies/history and chat.update
behave), checks a few of Slack's Block Kit limits, and can inject 429s (with Retry-After) and ok:false
errors. `Slack` builds realistic payloads for slash commands, events, block_actions, view_submission and
message shortcuts and signs them (v0= HMAC-SHA256 of "v0:ts:body").

The fixtures at the end run the real Bolt app over HTTP on loopback against the fake.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlparse

import httpx
import pytest

BOT_TOKEN = "xoxb-0000-test-token"
APP_TOKEN = "xapp-1-A0UCHI-0000-test-app-token"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM, BOT_USER, BOT_ID, APP_ID = "T0TEST", "UBOT0001", "BBOT0001", "A0UCHI"


@dataclass
class Call:
    method: str
    args: dict
    status: int = 200
    response: dict = field(default_factory=dict)
    injected: bool = False


class FakeSlack:
    def __init__(self):
        self.calls: list[Call] = []
        self.locales: dict[str, str] = {}
        self.groups: dict[str, list[str]] = {}
        self.channels: dict[str, list[dict]] = {}
        self.uploads: dict[str, bytes] = {}
        self._injected: dict[str, list[tuple[int, dict, dict]]] = {}
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._changed = threading.Condition()
        self._socket = None
        self.bugs: list[BaseException] = []  # the bot's services.bugs, once a bot is started
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.api_url = self.url + "/api/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # What tests set up and inject.
    def inject(self, method: str, *, error: str | None = None, retry_after: int | None = None, times: int = 1):
        """The next `times` calls of `method` get a 429 (retry_after) or ok:false (error)."""
        status, headers = (429, {"Retry-After": str(retry_after)}) if retry_after is not None else (200, {})
        body = {"ok": False, "error": error or "ratelimited"}
        self._injected.setdefault(method, []).extend([(status, headers, body)] * times)

    def next_ts(self) -> str:
        return f"{1767225600 + next(self._ts)}.{next(self._ts):06d}"

    def user_message(self, channel: str, user: str, text: str, thread_ts: str | None = None) -> dict:
        message = {"type": "message", "user": user, "text": text, "ts": self.next_ts(), "team": TEAM}
        if thread_ts:
            message["thread_ts"] = thread_ts
        self.channels.setdefault(channel, []).append(message)
        return message

    # What tests read.
    def called(self, method: str, where=None) -> list[Call]:
        """Calls of `method`; a method ending in / matches a prefix ("response/": every response_url post)."""
        return [c for c in list(self.calls) if (c.method == method or method.endswith("/")
                                                 and c.method.startswith(method)) and (where is None or where(c.args))]

    def wait_for(self, method: str, where=None, *, count: int = 1, timeout: float = 30.0) -> list[Call]:
        """Wait for `count` calls; a bug the bot hit meanwhile (strict mode) fails at once, with its traceback."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(found := self.called(method, where)) < count:
                if self.bugs:
                    raise self.bugs[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = sorted({c.method for c in self.calls})
                    raise AssertionError(f"no {count} x {method} within {timeout}s; calls so far: {seen}")
                self._changed.wait(min(left, 0.5))
        return found

    def message(self, channel: str, ts: str) -> dict:
        return next(m for m in self.channels.get(channel, []) if m["ts"] == ts)

    def failures(self) -> list[Call]:
        """Calls that failed without a test injecting the failure: a bot bug (bad arguments or blocks)."""
        return [c for c in self.calls if not c.injected and not c.response.get("ok", True)]

    # Serving.
    def handle(self, method: str, args: dict, headers: dict) -> tuple[int, dict, dict]:
        injected = self._injected.get(method)
        if injected:
            status, extra, body = injected.pop(0)
            self._record(Call(method, args, status, body, injected=True))
            return status, extra, body
        if method.startswith(("upload/", "response/")):
            body = {"ok": True}
        elif headers.get("authorization") != "Bearer " + (APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN):
            body = {"ok": False, "error": "invalid_auth"}
        else:
            body = getattr(self, "api_" + method.replace(".", "_"), self.api_unknown)(args)
        self._record(Call(method, args, 200, body))
        return 200, {}, body

    def _record(self, call: Call):
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def api_apps_connections_open(self, args):
        return {"ok": True, "url": f"ws://127.0.0.1:{self.server.server_port}/link/?ticket=t-{next(self._ids)}"}

    # Socket Mode: one WebSocket client at a time; what it sends is recorded as method "socket".
    def socket_send(self, envelope: dict) -> None:
        with self._changed:
            if self._socket is None and not self._changed.wait_for(lambda: self._socket is not None, 10):
                raise AssertionError("no Socket Mode client connected")
            _ws_send(self._socket, json.dumps(envelope).encode("utf-8"))

    def _serve_socket(self, sock) -> None:
        with self._changed:
            self._socket = sock
            self._changed.notify_all()
        _ws_send(sock, json.dumps({"type": "hello", "num_connections": 1,
                                   "connection_info": {"app_id": APP_ID}}).encode("utf-8"))
        while True:
            opcode, data = _ws_receive(sock)
            if opcode == 0x8:
                break
            if opcode == 0x9:
                _ws_send(sock, data, opcode=0xA)
            elif opcode == 0x1:
                self._record(Call("socket", json.loads(data)))
        with self._changed:
            self._socket = None

    def api_unknown(self, args):
        return {"ok": False, "error": "unknown_method"}

    def api_auth_test(self, args):
        return {"ok": True, "url": "https://uchi-test.slack.com/", "team": "Uchi Test", "user": "uchi",
                "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID, "is_enterprise_install": False}

    def api_users_info(self, args):
        user = {"id": args["user"], "team_id": TEAM, "name": args["user"].lower(), "tz": "Asia/Tokyo"}
        if str(args.get("include_locale")).lower() in ("1", "true"):
            user["locale"] = self.locales.get(args["user"], "en-US")
        return {"ok": True, "user": user}

    def api_usergroups_users_list(self, args):
        if args.get("usergroup") not in self.groups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": self.groups[args["usergroup"]]}

    def api_chat_postMessage(self, args):
        problem = _message_problem(args)
        if problem:
            return {"ok": False, "error": problem}
        channel = "D" + args["channel"][1:] if args["channel"].startswith("U") else args["channel"]
        message = {"type": "message", "user": BOT_USER, "bot_id": BOT_ID, "text": args.get("text", ""),
                   "blocks": args.get("blocks", []), "ts": self.next_ts(), "team": TEAM}
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        self.channels.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": message}

    def api_chat_update(self, args):
        problem = _message_problem(args)
        if problem:
            return {"ok": False, "error": problem}
        try:
            message = self.message(args["channel"], args["ts"])
        except StopIteration:
            return {"ok": False, "error": "message_not_found"}
        message.update(text=args.get("text", ""), blocks=args.get("blocks", []), edited={"user": BOT_USER})
        return {"ok": True, "channel": args["channel"], "ts": args["ts"], "text": message["text"]}

    def api_chat_postEphemeral(self, args):
        if not args.get("user") or not args.get("channel"):
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True, "message_ts": self.next_ts()}

    def api_conversations_replies(self, args):
        found = [m for m in self.channels.get(args["channel"], [])
                 if m["ts"] == args["ts"] or m.get("thread_ts") == args["ts"]]
        return {"ok": True, "messages": sorted(found, key=lambda m: float(m["ts"])), "has_more": False}

    def api_conversations_history(self, args):
        latest = float(args.get("latest") or "inf")
        found = [m for m in self.channels.get(args["channel"], []) if float(m["ts"]) < latest
                 and m.get("thread_ts", m["ts"]) == m["ts"]]
        found.sort(key=lambda m: float(m["ts"]), reverse=True)
        return {"ok": True, "messages": found[:int(args.get("limit", 100))], "has_more": False}

    def _view(self, args, need_trigger: bool):
        if need_trigger and not args.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        view = args["view"] if isinstance(args["view"], dict) else json.loads(args["view"])
        problem = _view_problem(view)
        if problem:
            return {"ok": False, "error": problem}
        return {"ok": True, "view": view | {"id": f"V{next(self._ids):08d}", "team_id": TEAM, "hash": "h"}}

    def api_views_open(self, args):
        return self._view(args, need_trigger=True)

    def api_views_update(self, args):
        return self._view(args, need_trigger=False)

    def api_views_publish(self, args):
        return self._view(args, need_trigger=False) if args.get("user_id") else {"ok": False,
                                                                               "error": "invalid_arguments"}

    def api_files_getUploadURLExternal(self, args):
        if not args.get("filename") or not int(args.get("length") or 0):
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._ids):08d}"
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def api_files_completeUploadExternal(self, args):
        files = json.loads(args["files"])
        missing = [f["id"] for f in files if f["id"] not in self.uploads]
        if missing:
            return {"ok": False, "error": "file_not_found"}
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title", "")} for f in files]}


def _message_problem(args) -> str | None:
    if not args.get("channel"):
        return "channel_not_found"
    blocks = args.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    if not args.get("text") and not blocks:
        return "no_text"
    return _blocks_problem(blocks, 50)


def _view_problem(view: dict) -> str | None:
    if view.get("type") == "modal":
        for key in ("title", "submit", "close"):
            if key in view and len(view[key]["text"]) > 24:
                return "invalid_arguments"
    if len(view.get("private_metadata", "")) > 3000:
        return "invalid_arguments"
    return _blocks_problem(view.get("blocks", []), 100)


def _blocks_problem(blocks: list[dict], most: int) -> str | None:
    """A few of Slack's Block Kit limits, enough to catch a message or view Slack would refuse."""
    if len(blocks) > most:
        return "invalid_blocks"
    for block in blocks:
        text = block.get("text", {}).get("text", "") if isinstance(block.get("text"), dict) else ""
        if block["type"] == "section" and len(text) > 3000 or block["type"] == "header" and len(text) > 150:
            return "invalid_blocks"
        for element in block.get("elements", []):
            if element.get("type") == "button" and (len(element["text"]["text"]) > 75
                                                    or len(element.get("value", "")) > 2000):
                return "invalid_blocks"
    return None


def _ws_send(sock, data: bytes, opcode: int = 0x1) -> None:
    """One unmasked server frame (RFC 6455)."""
    n = len(data)
    size = bytes([n]) if n < 126 else bytes([126]) + n.to_bytes(2, "big") if n < 65536 else \
        bytes([127]) + n.to_bytes(8, "big")
    sock.sendall(bytes([0x80 | opcode]) + size + data)


def _ws_receive(sock) -> tuple[int, bytes]:
    """One masked client frame (RFC 6455); a closed socket reads as a close frame."""
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError
            data += chunk
        return data

    try:
        first, second = exactly(2)
        n = second & 0x7F
        n = int.from_bytes(exactly(2 if n == 126 else 8), "big") if n >= 126 else n
        mask = exactly(4) if second & 0x80 else bytes(4)
        return first & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(exactly(n)))
    except OSError:
        return 0x8, b""


def _handler(fake: FakeSlack):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.headers.get("Upgrade", "").lower() != "websocket" or not self.path.startswith("/link/"):
                self.send_error(404)
                return
            key = self.headers["Sec-WebSocket-Key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", base64.b64encode(hashlib.sha1(key.encode()).digest()).decode())
            self.end_headers()
            self.wfile.flush()
            fake._serve_socket(self.connection)
            self.close_connection = True

        def do_POST(self):
            path = urlparse(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            method = path.path.removeprefix("/api/").lstrip("/")
            if method.startswith("upload/"):
                fake.uploads[method.split("/", 1)[1]] = raw
                args = {"bytes": len(raw)}
            else:
                args = dict(parse_qsl(path.query)) | _body(self.headers.get("Content-Type", ""), raw)
            status, headers, body = fake.handle(method, args, {k.lower(): v for k, v in self.headers.items()})
            payload = (json.dumps(body) if not method.startswith("upload/") else f"OK - {len(raw)}").encode()
            send(self, status, payload, headers)

        def log_message(self, *args):
            pass

    return Handler


def _body(content_type: str, raw: bytes) -> dict:
    if not raw:
        return {}
    if "json" in content_type:
        return json.loads(raw)
    return dict(parse_qsl(raw.decode("utf-8")))


def signature(secret: str, timestamp: str, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode("utf-8")
    return "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


class Slack:
    """Sends the bot what Slack would send, signed with the app's signing secret."""

    def __init__(self, bot_url: str, fake: FakeSlack, secret: str = SIGNING_SECRET):
        self.bot_url, self.fake, self.secret = bot_url, fake, secret
        self.http = httpx.Client(timeout=30)
        self._n = itertools.count(1)

    def close(self):
        self.http.close()

    def post(self, body: str, content_type: str, *, timestamp: int | None = None, secret: str | None = None,
             headers: dict | None = None) -> httpx.Response:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        signed = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature(secret or self.secret, ts, body),
                  "Content-Type": content_type} | (headers or {})
        return self.http.post(self.bot_url, content=body.encode("utf-8"), headers=signed)

    def _form(self, fields: dict, **kwargs) -> httpx.Response:
        return self.post(urlencode(fields), "application/x-www-form-urlencoded", **kwargs)

    def _interactive(self, payload: dict, **kwargs) -> httpx.Response:
        return self._form({"payload": json.dumps(payload)}, **kwargs)

    def trigger_id(self) -> str:
        return f"{next(self._n)}.{TEAM}.{int(time.time())}.trigger"

    def response_url(self) -> str:
        return f"{self.fake.url}/response/{TEAM}/{next(self._n)}/hook"

    def command(self, name: str, text: str, user: str, channel: str = "C0GENERAL", **kwargs) -> httpx.Response:
        return self._form(self.command_payload(name, text, user, channel), **kwargs)

    def command_payload(self, name: str, text: str, user: str, channel: str = "C0GENERAL") -> dict:
        return {
            "token": "legacy-verification-token", "team_id": TEAM, "team_domain": "uchi-test",
            "channel_id": channel, "channel_name": "general" if channel.startswith("C") else "directmessage",
            "user_id": user, "user_name": user.lower(), "command": name, "text": text, "api_app_id": APP_ID,
            "is_enterprise_install": "false", "response_url": self.response_url(),
            "trigger_id": self.trigger_id()}

    def event(self, event: dict, *, event_id: str | None = None, retry: int | None = None, **kwargs):
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
        return self.post(json.dumps(self.event_payload(event, event_id)), "application/json", headers=headers,
                         **kwargs)

    def event_payload(self, event: dict, event_id: str | None = None) -> dict:
        return {"token": "legacy-verification-token", "team_id": TEAM, "api_app_id": APP_ID, "event": event,
                "type": "event_callback", "event_id": event_id or f"Ev{next(self._n):08d}",
                "event_time": int(time.time()), "is_ext_shared_channel": False,
                "authorizations": [{"enterprise_id": None, "team_id": TEAM, "user_id": BOT_USER, "is_bot": True,
                                    "is_enterprise_install": False}],
                "event_context": f"4-{next(self._n)}"}

    def mention(self, user: str, text: str, channel: str = "C0GENERAL", thread_ts: str | None = None,
                **kwargs) -> tuple[httpx.Response, dict]:
        """A person posts "@uchi text" (the message lands in the channel first, as in Slack)."""
        event = self.mention_event(user, text, channel, thread_ts)
        return self.event(event, **kwargs), event

    def mention_event(self, user: str, text: str, channel: str = "C0GENERAL", thread_ts: str | None = None) -> dict:
        message = self.fake.user_message(channel, user, f"<@{BOT_USER}> {text}", thread_ts)
        return {"type": "app_mention", "user": user, "text": message["text"], "ts": message["ts"],
                "channel": channel, "event_ts": message["ts"], "team": TEAM,
                "client_msg_id": f"c-{message['ts']}"} | ({"thread_ts": thread_ts} if thread_ts else {})

    def dm(self, user: str, text: str, thread_ts: str | None = None, **kwargs) -> tuple[httpx.Response, dict]:
        channel = "D" + user[1:]
        message = self.fake.user_message(channel, user, text, thread_ts)
        event = {"type": "message", "channel": channel, "user": user, "text": text, "ts": message["ts"],
                 "event_ts": message["ts"], "channel_type": "im", "team": TEAM,
                 "client_msg_id": f"c-{message['ts']}"} | ({"thread_ts": thread_ts} if thread_ts else {})
        return self.event(event, **kwargs), event

    def home_opened(self, user: str) -> httpx.Response:
        return self.event({"type": "app_home_opened", "user": user, "channel": "D" + user[1:], "tab": "home",
                           "event_ts": self.fake.next_ts()})

    def click(self, user: str, channel: str, ts: str, action_id: str, value: str | None = None,
              forged: bool = False, **kwargs) -> httpx.Response:
        """A click on a button of a message the bot posted. `value` overrides the button's value; `forged`
        sends a button the message does not have (a crafted payload)."""
        message = self.fake.message(channel, ts)
        block, element = (({"block_id": "forged"}, {"action_id": action_id, "text": {"type": "plain_text",
                                                                                       "text": "x"}})
                          if forged else _button(message.get("blocks", []), action_id))
        return self._interactive(self._action_payload(user, block, element, value) | {
            "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False},
            "channel": {"id": channel, "name": "general"}, "message": message,
            "response_url": self.response_url()}, **kwargs)

    def click_home(self, user: str, view: dict, action_id: str, value: str | None = None, **kwargs):
        """A click in a Home tab view the bot published (the view as views.publish returned it)."""
        block, element = _button(view.get("blocks", []), action_id, value if value and value.isdigit() else None)
        return self._interactive(self._action_payload(user, block, element, value) | {
            "container": {"type": "view", "view_id": view["id"]}, "view": view}, **kwargs)

    def _action_payload(self, user, block, element, value):
        action = {"action_id": element["action_id"], "block_id": block["block_id"], "type": "button",
                  "text": element["text"], "value": element.get("value") if value is None else value,
                  "action_ts": f"{time.time():.6f}"}
        return {"type": "block_actions", "user": {"id": user, "username": user.lower(), "team_id": TEAM},
                "api_app_id": APP_ID, "token": "legacy-verification-token", "trigger_id": self.trigger_id(),
                "team": {"id": TEAM, "domain": "uchi-test"}, "is_enterprise_install": False, "actions": [action]}

    def submit(self, user: str, view: dict, values: dict[str, str], private_metadata: str | None = None,
               **kwargs) -> httpx.Response:
        """Submit a modal the bot opened, with text typed into its input blocks."""
        state = {block["block_id"]: {block["element"]["action_id"]: {
            "type": "plain_text_input", "value": values.get(block["block_id"],
                                                            block["element"].get("initial_value"))}}
            for block in view["blocks"] if block["type"] == "input"}
        submitted = view | {"state": {"values": state}}
        if private_metadata is not None:
            submitted["private_metadata"] = private_metadata
        return self._interactive({
            "type": "view_submission", "team": {"id": TEAM, "domain": "uchi-test"},
            "user": {"id": user, "username": user.lower(), "team_id": TEAM}, "api_app_id": APP_ID,
            "token": "legacy-verification-token", "trigger_id": self.trigger_id(), "view": submitted,
            "response_urls": [], "is_enterprise_install": False}, **kwargs)

    def shortcut(self, user: str, callback_id: str, message: dict, channel: str = "C0GENERAL") -> httpx.Response:
        return self._interactive({
            "type": "message_action", "callback_id": callback_id, "trigger_id": self.trigger_id(),
            "response_url": self.response_url(), "team": {"id": TEAM, "domain": "uchi-test"},
            "channel": {"id": channel, "name": "general"}, "user": {"id": user, "name": user.lower()},
            "message": message, "message_ts": message["ts"], "action_ts": f"{time.time():.6f}",
            "token": "legacy-verification-token", "is_enterprise_install": False})


def _button(blocks: list[dict], action_id: str, value: str | None = None) -> tuple[dict, dict]:
    for block in blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id and (value is None or element.get("value") == value):
                return block, element
    raise AssertionError(f"no {action_id} button (value {value}) in {json.dumps(blocks)[:500]}")


@dataclass
class Harness:
    fake: FakeSlack
    slack: Slack
    services: object
    server: object

    def responses(self, count: int = 0) -> list[dict]:
        """What the bot sent to response_url webhooks (ephemeral unless in_channel); waits for `count` of them."""
        if count:
            self.fake.wait_for("response/", count=count)
        return [c.args for c in self.fake.called("response/")]


def send(handler: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict | None = None) -> None:
    """A JSON response from a fake server's request handler (the fake Slack's, a fake model server's)."""
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Type", "application/json; charset=utf-8")
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


@pytest.fixture
def fake_slack():
    fake = FakeSlack()
    yield fake
    fake.close()


def start_bot(cfg, fake: FakeSlack, *, strict: bool = True):
    """The real app (real Bolt, real store, real model client) served over HTTP on 127.0.0.1:0."""
    from uchi.bot.app import build_app
    from uchi.bot.server import PATH, serve
    from uchi.bot.services import Services
    from uchi.bot.web import web_client

    services = Services.create(cfg, strict=strict)
    fake.bugs = services.bugs
    app = build_app(services, web_client(cfg, BOT_TOKEN), SIGNING_SECRET)
    server = serve(app, "127.0.0.1", 0, SIGNING_SECRET, acks=services.acks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return Harness(fake, Slack(f"http://127.0.0.1:{server.server_port}{PATH}", fake), services, server)


def stop_bot(harness: Harness):
    harness.server.shutdown()
    harness.server.server_close()
    harness.services.executor.shutdown(wait=True)
    harness.services.followups.shutdown(wait=True)
    harness.services.backlog.close(30)
    harness.slack.close()
    harness.services.model.close()
    if harness.services.bugs:
        raise harness.services.bugs[0]
    failures = harness.fake.failures()
    assert not failures, f"Slack refused the bot's calls: {[(c.method, c.response) for c in failures]}"


class SlowModel:
    """A model server at the network edge for load without a GPU: OpenAI-compatible /v1/chat/completions on
    127.0.0.1:0 that takes `delay_s` per answer, counting the most answers it was asked for at once."""

    def __init__(self, delay_s: float, answer: str = "Book the Lab Deck in the facilities calendar.", port: int = 0):
        self.delay_s, self.answer = delay_s, answer
        self.active = self.most = self.served = 0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _model_handler(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def complete(self) -> dict:
        with self._lock:
            self.active += 1
            self.most = max(self.most, self.active)
        try:
            time.sleep(self.delay_s)
        finally:
            with self._lock:
                self.active -= 1
                self.served += 1
        return {"id": "c", "object": "chat.completion", "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": self.answer}}]}


def _model_handler(model):
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: dict):
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self):
            if self.path == "/health":
                self._send(200, {})
            else:
                self._send(200, {"object": "list", "data": [{"id": "base", "object": "model"}]})

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._send(200, model.complete())

        def log_message(self, *args):
            pass

    return Handler


if __name__ == "__main__":  # a SlowModel in a process of its own, for benchmarks that kill it
    import sys

    served = SlowModel(float(sys.argv[1]), port=int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    print(served.server.server_port, flush=True)
    threading.Event().wait()
