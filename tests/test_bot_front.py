"""The bot's HTTP front under attack and load, over real HTTP on loopback: forged requests contact nobody,
malformed bodies get 400 with a reason, unknown interactions a polite reply, and acks never wait for answers
(a slow model at the network edge, tests/slack_fake.py SlowModel)."""
import hashlib
import hmac
import json
import logging
import time
from urllib.parse import urlencode

import pytest
from slack_bolt.request import BoltRequest

from conftest import free_port
from slack_fake import BOT_TOKEN, SIGNING_SECRET, Slack, SlowModel, fake_slack, signature, start_bot, stop_bot  # noqa: F401 (fixture)
from uchi import config as config_module
from uchi.data.store import Store

ASKER, VICTIM = "U0ASKER", "U0VICTIM"
SECRET_WORDS = "zebra-otter-4471"


def configure(monkeypatch, fake, model_port: int | None = None, **extra):
    env = {"UCHI_SLACK_API_URL": fake.api_url, "UCHI_SERVING_PORT": str(model_port or free_port()),
           "UCHI_RETRIEVAL_ENABLED": "false"} | extra
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return config_module.load()


def contacted(fake) -> list:
    """Calls beyond the start-up's auth.test."""
    return [c.method for c in fake.calls if c.method != "auth.test"]


@pytest.fixture
def bot(fake_slack, monkeypatch):
    harness = start_bot(configure(monkeypatch, fake_slack), fake_slack)
    yield harness
    stop_bot(harness)


def forged_bodies(slack) -> list[tuple[str, str]]:
    """What an attacker would send: a mention naming a victim, a DM event, a button with their response_url."""
    mention = slack.event_payload({"type": "app_mention", "user": VICTIM, "text": f"<@UBOT0001> {SECRET_WORDS}",
                                   "ts": "1767225601.000100", "channel": "C0VICTIM", "event_ts": "1767225601.000100"})
    dm = slack.event_payload({"type": "message", "channel": "D0VICTIM", "user": VICTIM, "text": SECRET_WORDS,
                              "ts": "1767225601.000200", "channel_type": "im"})
    click = {"type": "block_actions", "user": {"id": VICTIM}, "trigger_id": "1.2.3", "response_url":
             slack.response_url(), "actions": [{"action_id": "rate_up", "value": "1"}], "text": SECRET_WORDS}
    return [(json.dumps(mention), "application/json"), (json.dumps(dm), "application/json"),
            (urlencode({"payload": json.dumps(click)}), "application/x-www-form-urlencoded")]


TIMESTAMPS = ["abc", "1.5", "", None, "stale", "-1", "99999999999999"]


def test_forged_requests_are_refused_before_anything_is_contacted(bot, caplog):
    now = str(int(time.time()))
    with caplog.at_level(logging.DEBUG):
        for timestamp in TIMESTAMPS:
            value = {"stale": str(int(time.time()) - 6 * 60)}.get(timestamp, timestamp)
            for body, content_type in forged_bodies(bot.slack):
                headers = {"Content-Type": content_type, "X-Slack-Signature": signature("guessed", now, body)}
                if value is not None:
                    headers["X-Slack-Request-Timestamp"] = value
                if timestamp == "stale":  # signed with the real secret, but replayed too late
                    headers["X-Slack-Signature"] = signature(SIGNING_SECRET, value, body)
                response = bot.slack.http.post(bot.slack.bot_url, content=body.encode(), headers=headers)
                assert response.status_code == 401, (timestamp, response.text)
        time.sleep(0.3)  # anything the bot would send has been sent by now
    assert contacted(bot.fake) == []
    assert SECRET_WORDS not in caplog.text


def test_a_wrong_signature_is_refused_and_its_body_never_logged(bot, caplog):
    with caplog.at_level(logging.DEBUG):
        for body, content_type in forged_bodies(bot.slack):
            assert bot.slack.post(body, content_type, secret="not-the-secret").status_code == 401
        time.sleep(0.3)
    assert contacted(bot.fake) == [] and SECRET_WORDS not in caplog.text


def test_the_error_handler_never_acts_on_an_unverified_body(fake_slack, monkeypatch, caplog):
    """Behind the front too: Bolt's own verification raising on `int("abc")` reaches uchi's error handler,
    which must not post to the user, channel or response_url the body names."""
    from uchi.bot.app import build_app
    from uchi.bot.services import Services
    from uchi.bot.web import web_client

    cfg = configure(monkeypatch, fake_slack)
    services = Services.create(cfg)
    app = build_app(services, web_client(cfg, BOT_TOKEN), SIGNING_SECRET)
    slack = Slack("http://127.0.0.1:9/unused", fake_slack)
    with caplog.at_level(logging.DEBUG):
        for body, content_type in forged_bodies(slack):
            response = app.dispatch(BoltRequest(body=body, headers={
                "content-type": content_type, "x-slack-request-timestamp": "abc", "x-slack-signature": "v0=00"}))
            assert response.status in (401, 500)
        time.sleep(0.3)
    services.backlog.close(1)
    assert contacted(fake_slack) == [] and SECRET_WORDS not in caplog.text


MALFORMED = [
    ("{not json", "application/json"),
    ("[1,2,3]", "application/json"),
    ('{"type": "event_callback", "event": {"type": "app_men', "application/json"),
    ("{not json", "application/x-www-form-urlencoded"),
    ("payload=", "application/x-www-form-urlencoded"),
    ("payload=%7Bnot", "application/x-www-form-urlencoded"),
    (b"\xff\xfe\x00payload", "application/x-www-form-urlencoded"),
    (urlencode({"payload": json.dumps({"type": "view_submission", "user": {"id": ASKER},
                                       "view": {"callback_id": "teach"}})}), "application/x-www-form-urlencoded"),
    (urlencode({"payload": json.dumps({"type": "block_actions", "user": {"id": ASKER}, "actions": []})}),
     "application/x-www-form-urlencoded"),
    ('{"type": "event_callback", "event": "x"}', "application/json"),
    ("", "application/x-www-form-urlencoded"),
]


def test_malformed_bodies_get_400_with_a_reason_and_unsigned_ones_401(bot):
    for body, content_type in MALFORMED:
        raw = body if isinstance(body, bytes) else body.encode()
        ts = str(int(time.time()))
        mac = "v0=" + hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:".encode() + raw, hashlib.sha256).hexdigest()
        signed = bot.slack.http.post(bot.slack.bot_url, content=raw, headers={
            "Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": mac})
        assert signed.status_code == 400 and len(signed.text) > 10, (body, signed.text)
        unsigned = bot.slack.http.post(bot.slack.bot_url, content=raw, headers={"Content-Type": content_type})
        assert unsigned.status_code == 401, body
    assert contacted(bot.fake) == []


def test_unknown_command_button_and_form_get_a_polite_reply(bot):
    response = bot.slack.command("/frobnicate", "now", ASKER)
    assert response.status_code == 200 and "don't know `/frobnicate`" in response.json()["text"]
    click = {"type": "block_actions", "user": {"id": ASKER, "team_id": "T0TEST"}, "team": {"id": "T0TEST"},
             "trigger_id": "1.2.3", "response_url": bot.slack.response_url(),
             "actions": [{"action_id": "retired_button", "value": "1"}]}
    assert bot.slack._interactive(click).status_code == 200
    assert "retired_button" in bot.responses(1)[0]["text"]
    form = {"type": "view_submission", "user": {"id": ASKER, "team_id": "T0TEST"}, "team": {"id": "T0TEST"},
            "view": {"type": "modal", "callback_id": "old_form", "state": {"values": {}}}}
    reply = bot.slack._interactive(form)
    assert reply.status_code == 200 and reply.json()["response_action"] == "update"
    assert "old_form" in json.dumps(reply.json()["view"])


def test_zero_width_and_control_characters_are_not_a_question(bot):
    response = bot.slack.command("/ask", "\u200b\u200b\x00\u2060", ASKER)
    assert response.status_code == 200 and "Ask me a question" in response.json()["text"]
    bot.slack.command("/ask", "Where\x00 is the\u200b Lab\x07 Deck?", ASKER)
    asked = bot.fake.wait_for("chat.postMessage")[0].args["text"]
    assert "Where is the Lab Deck?" in asked and "\x00" not in asked


@pytest.fixture
def slow_bot(fake_slack, monkeypatch):
    model = SlowModel(delay_s=0.6)
    harness = start_bot(configure(monkeypatch, fake_slack, model.server.server_port, UCHI_SLACK_ANSWERING="1",
                                  UCHI_SLACK_QUEUE="2"), fake_slack)
    harness.model = model
    yield harness
    stop_bot(harness)
    model.close()


def test_acks_never_wait_for_answers_and_the_line_is_bounded_and_shown(slow_bot):
    bot, acked = slow_bot, []
    for n in range(4):  # one answering, two waiting, the fourth refused
        started = time.monotonic()
        assert bot.slack.command("/ask", f"Question number {n}?", ASKER).status_code == 200
        acked.append(time.monotonic() - started)
        bot.fake.wait_for("chat.postMessage", lambda a: a["text"].startswith("Thinking"), count=n + 1)
        time.sleep(0.05)
    assert max(acked) < 0.5, acked  # the model takes 0.6 s per answer and three are ahead
    placeholders = [c.args["text"] for c in bot.fake.called("chat.postMessage", lambda a: "Thinking" in a["text"])]
    assert placeholders[0] == "Thinking…" and "(2 question(s) ahead of yours)" in placeholders[3]
    updates = bot.fake.wait_for("chat.update", count=4, timeout=10)
    texts = [c.args["text"] for c in updates]
    assert sum("Too many questions are waiting (limit 2)" in t for t in texts) == 1
    assert sum("Lab Deck" in t for t in texts) == 3, texts
    assert bot.model.most == 1  # backpressure: never more than slack.answering at the model


def test_stopping_finishes_the_answer_under_way_and_tells_those_waiting(slow_bot):
    bot = slow_bot
    for n in range(3):
        bot.slack.command("/ask", f"Question number {n}?", ASKER)
        bot.fake.wait_for("chat.postMessage", lambda a: a["text"].startswith("Thinking"), count=n + 1)
        time.sleep(0.05)
    dropped, running = bot.services.backlog.close(5)
    assert (dropped, running) == (2, 0)
    texts = [c.args["text"] for c in bot.fake.wait_for("chat.update", count=3)]
    assert sum("uchi is restarting" in t for t in texts) == 2 and sum("Lab Deck" in t for t in texts) == 1
    assert not bot.services.backlog.submit(None)


def test_a_mention_is_acked_while_another_writer_holds_the_store_and_answered_once(slow_bot):
    """Slack resends an event not acked within 3 s: the ack must not wait for SQLite's write lock."""
    import sqlite3
    import threading

    bot = slow_bot
    with Store.open(bot.services.cfg) as store:
        path = store.path
    holder = sqlite3.connect(path, timeout=30, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another writer (a backup, an import) holds the lock
    release = threading.Timer(2.0, holder.commit)
    release.start()
    try:
        started = time.monotonic()
        response, event = bot.slack.mention(ASKER, "Where is the Lab Deck?")
        acked = time.monotonic() - started
        retried = bot.slack.event(event, event_id="EvRETRY0001", retry=1)  # Slack's resend of the same message
    finally:
        release.join()
        holder.close()
    assert response.status_code == 200 and retried.status_code == 200 and acked < 1.0, acked
    bot.fake.wait_for("chat.update", lambda a: "Lab Deck" in a["text"], timeout=30)
    time.sleep(0.5)
    assert len(bot.fake.called("chat.postMessage", lambda a: a["text"].startswith("Thinking"))) == 1


def test_unreachable_slack_api_and_store_are_clear_startup_errors(monkeypatch, capsys, tmp_path):
    from uchi.cli import main

    monkeypatch.setenv("UCHI_SLACK_API_URL", f"http://127.0.0.1:{free_port()}/api/")  # nothing listens
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    assert main(["bot", "--http"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the Slack API at http://127.0.0.1:" in err and "Traceback" not in err
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the state folder should be")
    monkeypatch.setenv("UCHI_STATE_DIR", str(blocked))
    assert main(["bot", "--http"]) == 2
    err = capsys.readouterr().err
    assert "cannot open the store" in err and "Traceback" not in err


def test_an_ask_is_acked_while_many_mentions_wait_for_a_locked_store(bot):
    """What a listener does after its ack runs on its own threads: 70 mentions waiting for SQLite's write lock
    (more than Bolt's 64 listener threads) must not hold up the ack of an /ask that arrives behind them."""
    import sqlite3
    import threading

    with Store.open(bot.services.cfg) as store:
        path = store.path
    holder = sqlite3.connect(path, timeout=30, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(5.0, holder.commit)
    release.start()
    try:
        for n in range(70):
            assert bot.slack.mention(f"U0MEN{n:03d}", f"Mention {n}: where is the Lab Deck?")[0].status_code == 200
        started = time.monotonic()
        response = bot.slack.command("/ask", "Where is the server room?", ASKER)
        acked = time.monotonic() - started
        held = release.is_alive()
    finally:
        release.join()
        holder.close()
    assert response.status_code == 200 and held and acked < 1.0, acked
    bot.fake.wait_for("chat.postMessage", lambda a: a["text"].startswith("Thinking"), count=71, timeout=60)
