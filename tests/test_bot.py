"""The Slack bot over loopback: the real Bolt app served on 127.0.0.1:0, a fake Slack Web API, signed requests.

No model here: the model server is down in these tests (a port nothing listens on), which is itself a
scenario. Answers from the real model are in test_bot_loop.py (vllm tier).
"""
import json
import logging
import time

import pytest

from conftest import free_port, seed_facts
from slack_fake import APP_TOKEN, BOT_ID, BOT_TOKEN, BOT_USER, Slack, fake_slack, start_bot, stop_bot  # noqa: F401 (fixture)
from uchi import config as config_module
from uchi.cli import main
from uchi.data import audit
from uchi.data.pairs import load_pairs
from uchi.data.store import Store

ADMIN, REVIEWER, ASKER, JA_USER, OUTSIDER = "U0ADMIN", "U0REVIEWER", "U0ASKER", "U0TANAKA", "U0OUTSIDER"


def configure(monkeypatch, fake, **extra):
    env = {"UCHI_SLACK_API_URL": fake.api_url, "UCHI_SLACK_ADMINS": ADMIN, "UCHI_SLACK_REVIEWERS": REVIEWER,
           "UCHI_SERVING_PORT": str(free_port())} | extra
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    fake.locales[JA_USER] = "ja-JP"
    return config_module.load()


@pytest.fixture
def bot(fake_slack, monkeypatch):
    harness = start_bot(configure(monkeypatch, fake_slack), fake_slack)
    yield harness
    stop_bot(harness)


def opened_view(fake, callback_id, count=1):
    return fake.wait_for("views.open", lambda a: a["view"].get("callback_id") == callback_id, count=count)[-1] \
        .response["view"]


def last_home(fake, user):
    return fake.called("views.publish", lambda a: a["user_id"] == user)[-1].response["view"]


# Transport and signatures ------------------------------------------------------------------------------

def test_bad_signature_and_stale_timestamp_get_401(bot):
    assert bot.slack.command("/uchi", "status", ASKER, secret="not-the-secret").status_code == 401
    stale = int(time.time()) - 6 * 60
    assert bot.slack.command("/uchi", "status", ASKER, timestamp=stale).status_code == 401
    fresh = bot.slack.command("/uchi", "status", ASKER)
    assert fresh.status_code == 200 and "uchi status" in fresh.text


def test_socket_mode_runs_the_same_listeners(fake_slack, monkeypatch):
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from uchi.bot.app import build_app
    from uchi.bot.services import Services
    from uchi.bot.web import web_client

    cfg = configure(monkeypatch, fake_slack)
    services = Services.create(cfg, strict=True)
    handler = SocketModeHandler(build_app(services, web_client(cfg, BOT_TOKEN)), APP_TOKEN)
    payloads = Slack("http://127.0.0.1:9/unused", fake_slack)
    handler.connect()
    try:
        fake_slack.socket_send({"envelope_id": "env-1", "type": "slash_commands", "accepts_response_payload": True,
                                "payload": payloads.command_payload("/uchi", "status", ASKER)})
        ack = fake_slack.wait_for("socket")[0].args
        assert ack["envelope_id"] == "env-1" and "*Pending reviews*: 0" in json.dumps(ack["payload"])
        event = payloads.mention_event(ASKER, "Where is the server room?")
        fake_slack.socket_send({"envelope_id": "env-2", "type": "events_api", "accepts_response_payload": False,
                                "retry_attempt": 0, "retry_reason": "", "payload": payloads.event_payload(event)})
        assert fake_slack.wait_for("chat.update")[0].args["text"].startswith("The model is unavailable")
        assert fake_slack.wait_for("socket", count=2)[1].args["envelope_id"] == "env-2"
    finally:
        handler.close()
        services.executor.shutdown(wait=True)
        services.followups.shutdown(wait=True)
    assert not services.bugs and not fake_slack.failures()


def test_url_verification_challenge(bot):
    body = json.dumps({"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"})
    response = bot.slack.post(body, "application/json")
    assert response.status_code == 200 and response.json()["challenge"].startswith("3eZbrw")


# Asking while the model is down ------------------------------------------------------------------------

def test_mention_gets_a_placeholder_then_model_unavailable_in_the_thread(bot):
    response, event = bot.slack.mention(ASKER, "How do I book the Lab Deck?")
    assert response.status_code == 200
    placeholder = bot.fake.wait_for("chat.postMessage")[0]
    assert placeholder.args["thread_ts"] == event["ts"] and placeholder.args["text"] == "Thinking…"
    update = bot.fake.wait_for("chat.update")[0]
    assert update.args["ts"] == placeholder.response["ts"]
    assert update.args["text"] == "The model is unavailable right now. Please try again in a few minutes."


def test_japanese_locale_gets_japanese_strings(bot):
    bot.slack.mention(JA_USER, "ラボデッキの予約方法は？")
    assert bot.fake.wait_for("chat.postMessage")[0].args["text"] == "考えています…"
    assert bot.fake.wait_for("chat.update")[0].args["text"].startswith("現在モデルを利用できません")
    assert bot.fake.called("users.info", lambda a: a["user"] == JA_USER and a["include_locale"] in ("1", "true"))


def test_retried_and_doubled_events_yield_one_answer(bot):
    response, event = bot.slack.mention(ASKER, "Who approves travel to Osaka?", event_id="Ev0RETRY1")
    retried = bot.slack.event(event, event_id="Ev0RETRY1", retry=1)
    # The same message also arrives as a message event (different event_id) when the bot is subscribed.
    doubled = bot.slack.event({"type": "message", "channel": event["channel"], "user": ASKER, "text": event["text"],
                               "ts": event["ts"], "event_ts": event["ts"], "channel_type": "channel"})
    assert (response.status_code, retried.status_code, doubled.status_code) == (200, 200, 200)
    bot.fake.wait_for("chat.update")
    time.sleep(0.5)
    assert len(bot.fake.called("chat.postMessage")) == 1 and len(bot.fake.called("chat.update")) == 1


def test_dm_is_answered_in_the_dm_and_own_or_edited_messages_are_ignored(bot):
    response, event = bot.slack.dm(ASKER, "社員食堂の名前は何ですか？")
    placeholder = bot.fake.wait_for("chat.postMessage")[0]
    assert placeholder.args["channel"] == event["channel"] and "thread_ts" not in placeholder.args
    bot.fake.wait_for("chat.update")
    own = bot.slack.event({"type": "message", "channel": event["channel"], "user": BOT_USER, "bot_id": BOT_ID,
                           "text": "Thinking…", "ts": placeholder.response["ts"], "channel_type": "im"})
    edited = bot.slack.event({"type": "message", "subtype": "message_changed", "channel": event["channel"],
                              "ts": bot.fake.next_ts(), "channel_type": "im", "message": {"text": "x"}})
    assert own.status_code == 200 and edited.status_code == 200
    time.sleep(0.5)
    assert len(bot.fake.called("chat.postMessage")) == 1


def test_empty_mention_and_empty_ask_explain_how_to_ask(bot):
    response = bot.slack.command("/ask", "  ", ASKER)
    assert response.json() == {"response_type": "ephemeral", "text": "Ask me a question, e.g. "
                                                                     "`/ask How do I book the Lab Deck?`"}
    bot.slack.mention(ASKER, "")
    ephemeral = bot.fake.wait_for("chat.postEphemeral")[0]
    assert ephemeral.args["user"] == ASKER and "Ask me a question" in ephemeral.args["text"]


def test_ask_command_posts_the_question_then_answers_in_its_thread(bot):
    assert bot.slack.command("/ask", "What is the helpdesk extension? <!channel>", ASKER).status_code == 200
    question, placeholder = bot.fake.wait_for("chat.postMessage", count=2)
    assert "&lt;!channel&gt;" in question.args["text"] and "<!channel>" not in json.dumps(question.args)
    assert placeholder.args["thread_ts"] == question.response["ts"]
    assert bot.fake.wait_for("chat.update")[0].args["text"].startswith("The model is unavailable")


def test_not_in_channel_is_explained_and_429_is_retried(bot):
    bot.fake.inject("chat.postMessage", error="not_in_channel")
    bot.slack.command("/ask", "Where is the server room?", ASKER, channel="C0PRIVATE")
    assert bot.responses(1)[0]["text"].startswith("I can't post in this channel yet")
    bot.fake.inject("chat.postMessage", retry_after=1)
    started = time.monotonic()
    bot.slack.mention(ASKER, "Where is the server room?")
    bot.fake.wait_for("chat.update")
    posts = bot.fake.called("chat.postMessage")
    assert [p.status for p in posts] == [200, 429, 200] and time.monotonic() - started >= 1


# Teaching -----------------------------------------------------------------------------------------------

def test_teach_modal_stores_a_redacted_pending_pair_and_tells_the_author(bot):
    bot.slack.command("/teach", "", JA_USER)
    view = opened_view(bot.fake, "teach")
    response = bot.slack.submit(JA_USER, view, {
        "question": "経費精算の問い合わせ先は？",
        "answer": "経理の佐藤さん（sato@harbor-lantern.example、03-1234-5678）に連絡してください。"})
    body = response.json()
    assert body["response_action"] == "update"
    shown = json.dumps(body["view"], ensure_ascii=False)
    assert "レビュー待ち" in shown and "メールアドレス" in shown and "電話番号" in shown
    with Store.open(bot.services.cfg) as store:
        [pair] = load_pairs(store, status="pending")
    assert pair["source"] == "slack:teach" and pair["author"] == JA_USER and pair["language"] == "ja"
    assert "[email]" in pair["answer"] and "[phone]" in pair["answer"] and "sato@" not in pair["answer"]


def test_invalid_input_is_shown_inside_the_modal(bot):
    bot.slack.command("/teach", "", ASKER)
    view = opened_view(bot.fake, "teach")
    limit = bot.services.cfg.data.max_answer_chars
    body = bot.slack.submit(ASKER, view, {"question": "   ", "answer": "x" * (limit + 1)}).json()
    assert body["response_action"] == "errors"
    assert body["errors"] == {"question": "Please fill this in.",
                              "answer": f"{limit + 1} characters; the limit is {limit}."}
    with Store.open(bot.services.cfg) as store:
        assert load_pairs(store) == []


def test_teaching_a_known_pair_counts_as_a_vote_and_a_new_answer_is_kept_for_review(bot):
    with Store.open(bot.services.cfg) as store:
        seed_facts(store, bot.services.cfg)
    bot.slack.command("/teach", "", ASKER)
    view = opened_view(bot.fake, "teach")
    body = bot.slack.submit(ASKER, view, {"question": "Who approves travel to Osaka?",
                                          "answer": "Travel to Osaka is approved by Mika Tanabe-Ruiz."}).json()
    assert "matches pair #2 (approved)" in json.dumps(body["view"])
    body = bot.slack.submit(ASKER, view, {"question": "Who approves travel to Osaka?",
                                          "answer": "Since November, Osaka trips are approved by Kenji Mori."}).json()
    assert "pending review" in json.dumps(body["view"])
    with Store.open(bot.services.cfg) as store:
        [pending] = load_pairs(store, status="pending")
    assert pending["answer"].startswith("Since November") and pending["source"] == "slack:teach"


def test_message_shortcut_turns_a_message_into_a_draft_pair(bot):
    message = bot.fake.user_message("C0GENERAL", ASKER, "The Lab Deck is booked in the *Rooms* app, &lt;24h ahead.")
    assert bot.slack.shortcut(REVIEWER, "teach_from_message", message).status_code == 200
    view = opened_view(bot.fake, "teach")
    answer_input = next(b for b in view["blocks"] if b.get("block_id") == "answer")
    assert answer_input["element"]["initial_value"] == "The Lab Deck is booked in the *Rooms* app, <24h ahead."
    bot.slack.submit(REVIEWER, view, {"question": "How do I book the Lab Deck?"})
    # private_metadata comes back from the client: garbage there cannot choose the pair's source.
    bot.slack.submit(REVIEWER, view, {"question": "Where do I book rooms?"}, private_metadata='{"source": "import"')
    with Store.open(bot.services.cfg) as store:
        pairs = load_pairs(store, status="pending")
    assert [p["source"] for p in pairs] == ["slack:shortcut", "slack:teach"]
    assert pairs[0]["answer"].startswith("The Lab Deck is booked")


def test_acks_never_wait_for_what_listeners_do_after_them(bot):
    """Slack's request is answered when its listener returns (bot/app.py process_before_response): a listener
    acks and hands the rest to the follow-up threads, so a slow Slack API (429, Retry-After 2 s, on views.open
    and chat.postMessage) holds no ack of a command, a shortcut, a button or an event."""
    message = bot.fake.user_message("C0GENERAL", ASKER, "The Lab Deck is booked in the Rooms app.")
    bot.fake.inject("views.open", retry_after=2, times=2)
    bot.fake.inject("chat.postMessage", retry_after=2)
    started = time.monotonic()
    responses = [bot.slack.command("/teach", "", ASKER), bot.slack.shortcut(REVIEWER, "teach_from_message", message),
                 bot.slack.command("/ask", "Where is the Lab Deck?", ASKER), bot.slack.home_opened(REVIEWER)]
    acked = time.monotonic() - started
    assert [r.status_code for r in responses] == [200] * 4 and acked < 1.5, acked
    assert not [c for c in bot.fake.called("views.open") if not c.injected]
    opened = bot.fake.wait_for("views.open", count=4)  # the two 429s, then both modals after Slack's Retry-After
    assert [c.response["view"]["callback_id"] for c in opened if not c.injected] == ["teach", "teach"]
    bot.fake.wait_for("chat.postMessage", lambda a: "Lab Deck" in a.get("text", ""))
    bot.fake.wait_for("views.publish", lambda a: a["user_id"] == REVIEWER)


# Reviewing -----------------------------------------------------------------------------------------------

def _teach(bot, user, question, answer):
    before = len(bot.fake.called("views.open"))
    bot.slack.command("/teach", "", user)
    view = opened_view(bot.fake, "teach", count=before + 1)
    assert bot.slack.submit(user, view, {"question": question, "answer": answer}).json()["response_action"] == "update"


def test_reviewer_approves_from_the_app_home_and_the_author_is_told(bot):
    _teach(bot, JA_USER, "駐車場のゲートコードは？", "駐車場のゲートコードは4471です。")
    _teach(bot, ASKER, "What is the guest Wi-Fi called?", "The guest Wi-Fi is HL-Guest.")
    bot.slack.home_opened(REVIEWER)
    bot.fake.wait_for("views.publish")
    home = last_home(bot.fake, REVIEWER)
    assert "*Review queue*: 2 pending pair(s)" in json.dumps(home, ensure_ascii=False)
    bot.slack.click_home(REVIEWER, home, "review_approve", "1")
    notice = bot.fake.wait_for("chat.postMessage", lambda a: a["channel"] == JA_USER)[0]
    assert "承認されました" in notice.args["text"]
    bot.fake.wait_for("views.publish", count=2)
    bot.slack.click_home(REVIEWER, last_home(bot.fake, REVIEWER), "review_reject", "2")
    assert "not accepted" in bot.fake.wait_for("chat.postMessage", lambda a: a["channel"] == ASKER)[0].args["text"]
    bot.fake.wait_for("views.publish", count=3)
    assert "Nothing to review" in json.dumps(last_home(bot.fake, REVIEWER))
    with Store.open(bot.services.cfg) as store:
        assert [(p["status"], p["reviewed_by"]) for p in load_pairs(store)] == [("approved", REVIEWER),
                                                                              ("rejected", REVIEWER)]


def test_non_reviewer_approval_is_refused_and_audited(bot):
    _teach(bot, ASKER, "What is the guest Wi-Fi called?", "The guest Wi-Fi is HL-Guest.")
    bot.slack.home_opened(OUTSIDER)
    bot.fake.wait_for("views.publish")
    assert "review_approve" not in json.dumps(last_home(bot.fake, OUTSIDER))
    bot.slack.home_opened(REVIEWER)
    bot.fake.wait_for("views.publish", count=2)
    # The outsider replays a reviewer's button: the server checks the clicker, not the view.
    bot.slack.click_home(OUTSIDER, last_home(bot.fake, REVIEWER), "review_approve", "1")
    refusal = bot.fake.wait_for("chat.postMessage", lambda a: a["channel"] == OUTSIDER)[0]
    assert refusal.args["text"] == "Sorry, only uchi reviewers may review pairs. This attempt was recorded."
    # ...and replays a reviewer's Edit modal: the submission is checked too, and refused inside the modal.
    bot.slack.click_home(REVIEWER, last_home(bot.fake, REVIEWER), "review_edit", "1")
    body = bot.slack.submit(OUTSIDER, opened_view(bot.fake, "review_edit"), {"answer": "Mine now."}).json()
    assert body == {"response_action": "errors", "errors": {
        "question": "Sorry, only uchi reviewers may review pairs. This attempt was recorded."}}
    with Store.open(bot.services.cfg) as store:
        [pair] = load_pairs(store)
        refused = audit.entries(store, outcome="refused")
    assert pair["status"] == "pending" and pair["answer"] == "The guest Wi-Fi is HL-Guest."
    assert [(e["actor"], e["action"], e["target"]) for e in refused] == [(OUTSIDER, "review", "1")] * 2


def test_reviewer_group_members_review_and_edits_are_redacted(fake_slack, monkeypatch):
    fake_slack.groups["S0REVIEW"] = ["U0GROUPIE"]
    harness = start_bot(configure(monkeypatch, fake_slack, UCHI_SLACK_REVIEWER_GROUP="S0REVIEW"), fake_slack)
    try:
        _teach(harness, ASKER, "Who runs the helpdesk?", "Ask the helpdesk.")
        harness.slack.home_opened("U0GROUPIE")
        harness.fake.wait_for("views.publish")
        harness.slack.click_home("U0GROUPIE", last_home(harness.fake, "U0GROUPIE"), "review_edit", "1")
        view = opened_view(harness.fake, "review_edit")
        harness.slack.submit("U0GROUPIE", view, {"answer": "Kenji runs it: kenji@harbor-lantern.example, ext 7731."})
        harness.fake.wait_for("chat.postMessage", lambda a: a["channel"] == ASKER)
        with Store.open(harness.services.cfg) as store:
            [pair] = load_pairs(store)
        assert pair["status"] == "approved" and pair["reviewed_by"] == "U0GROUPIE"
        assert pair["answer"] == "Kenji runs it: [email], ext 7731."
        assert len(harness.fake.called("usergroups.users.list")) == 1  # cached between the two clicks
    finally:
        stop_bot(harness)


# Admin commands ------------------------------------------------------------------------------------------

def test_non_admin_promote_retrain_and_rollback_are_refused_and_audited(bot):
    for command, text in (("/promote", "v1-deadbeef"), ("/retrain", ""), ("/rollback", "")):
        body = bot.slack.command(command, text, OUTSIDER).json()
        assert body["response_type"] == "ephemeral" and body["text"].startswith("Sorry, only uchi admins may")
    with Store.open(bot.services.cfg) as store:
        refused = audit.entries(store, actor=OUTSIDER, outcome="refused")
    assert [(e["action"], e["target"]) for e in refused] == [("promote", "v1-deadbeef"), ("retrain", ""),
                                                            ("rollback", "")]
    assert not bot.fake.called("chat.postMessage")


def test_japanese_refusal(bot):
    body = bot.slack.command("/promote", "v1-deadbeef", JA_USER).json()
    assert body["text"] == "申し訳ありません。アダプターの昇格はuchi 管理者のみ実行できます。この操作は記録されました。"


def test_promote_usage_unknown_versions_and_empty_rollback_say_what_to_do(bot):
    assert bot.slack.command("/promote", "", ADMIN).json()["text"].startswith("Usage: `/promote VERSION`")
    assert bot.slack.command("/promote", "v1 --force", ADMIN).json()["text"].startswith("Usage:")
    assert bot.slack.command("/promote", "v9-missing", ADMIN).status_code == 200
    assert bot.slack.command("/rollback", "", ADMIN).status_code == 200
    texts = sorted(r["text"] for r in bot.responses(2))
    assert texts[0].startswith("⚠️ no adapter version 'v9-missing'") and "nothing to roll back" in texts[1]
    assert all(r["response_type"] == "ephemeral" for r in bot.responses())


def test_second_retrain_says_which_run_is_in_progress(bot):
    import os

    from uchi.data import snapshot

    with Store.open(bot.services.cfg) as store:
        seed_facts(store, bot.services.cfg)
        snap = snapshot.current(store)
        snapshot.record(store, snap)
        run_id = store.db["runs"].insert({"snapshot": snap.hash, "base_model": "x", "status": "running",
                                          "params": "{}", "pid": os.getpid(), "started_at": "2026-11-29T01:02:03"}
                                         ).last_pk
    assert bot.slack.command("/retrain", "", ADMIN).status_code == 200
    [busy] = bot.responses(1)
    assert busy["response_type"] == "ephemeral" and busy["text"] == (
        f"A training run is already in progress: run #{run_id} (started 2026-11-29T01:02). Try again when it finishes.")
    assert not bot.fake.called("chat.postMessage")


def test_a_retrain_process_that_ends_is_reaped(fake_slack, monkeypatch):
    """An ended child the bot never waits for stays a zombie, which still answers kill(pid, 0): a run whose
    process died would look alive and refuse every /retrain until the bot restarted."""
    from uchi.bot.threads import start_retrain
    from uchi.data.runs import _alive

    cfg = configure(monkeypatch, fake_slack)
    monkeypatch.setattr("sys.executable", "/bin/true")  # a `uchi retrain` that ends at once
    job = start_retrain(cfg, BOT_TOKEN, "C0GENERAL", "1767225601.000100", "en", ADMIN)
    deadline = time.monotonic() + 10
    while _alive(job.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(job.pid)


def test_a_killed_retrain_process_is_told_in_its_thread(fake_slack, monkeypatch, tmp_path):
    """Killed by a signal, `uchi retrain` cannot tell its thread; the bot that started it does."""
    from uchi.bot.threads import start_retrain

    cfg = configure(monkeypatch, fake_slack)
    killed = tmp_path / "killed"
    killed.write_text("#!/bin/sh\nkill -9 $$\n")
    killed.chmod(0o755)
    monkeypatch.setattr("sys.executable", str(killed))
    start_retrain(cfg, BOT_TOKEN, "C0GENERAL", "1767225601.000100", "en", ADMIN)
    [told] = fake_slack.wait_for("chat.postMessage", lambda a: a.get("thread_ts") == "1767225601.000100")
    assert told.args["text"].startswith("Training failed: the `uchi retrain` process") and "SIGKILL" in told.args["text"]


def test_uchi_status_counts(bot):
    with Store.open(bot.services.cfg) as store:
        seed_facts(store, bot.services.cfg)
    _teach(bot, ASKER, "What is the guest Wi-Fi called?", "The guest Wi-Fi is HL-Guest.")
    body = bot.slack.command("/uchi", "status", ASKER).json()
    shown = json.dumps(body["blocks"])
    assert "*Production*: the base model" in shown and "*Pending reviews*: 1" in shown
    assert "*Pairs*: 8 approved" in shown and "2 Japanese" in shown and "*Last run*: none yet" in shown
    assert bot.slack.command("/uchi", "", ASKER).json()["text"].startswith("Usage: `/uchi status`")


def test_forged_promote_button_is_refused_and_audited(bot):
    bot.slack.command("/ask", "What is the helpdesk extension?", ASKER)
    question = bot.fake.wait_for("chat.postMessage")[0]
    bot.fake.wait_for("chat.update")
    # An admin's client sends a Promote button the message never had: no report was posted there.
    bot.slack.click(ADMIN, "C0GENERAL", question.response["ts"], "adapter_promote", value="v1-deadbeef",
                    forged=True)
    assert bot.responses(1)[0]["text"].startswith("This button does not belong to this message")
    with Store.open(bot.services.cfg) as store:
        [entry] = audit.entries(store, outcome="refused")
        assert store.alias("production") is None
    assert (entry["actor"], entry["action"], entry["target"]) == (ADMIN, "adapter_decision", "v1-deadbeef")


# Errors and logs -----------------------------------------------------------------------------------------

def test_unexpected_error_gives_an_error_id_and_logs_it_without_text(fake_slack, monkeypatch, caplog):
    from uchi.bot import reports

    harness = start_bot(configure(monkeypatch, fake_slack), fake_slack, strict=False)

    def broken(store):
        raise RuntimeError(" ".join(["private", "words"]))  # the message only exists at run time

    monkeypatch.setattr(reports, "status", broken)
    try:
        with caplog.at_level(logging.INFO):
            body = harness.slack.command("/uchi", "status", ASKER).json()
    finally:
        stop_bot(harness)
    assert body["response_type"] == "ephemeral" and "error id" in body["text"]
    error_id = body["text"].split("error id ")[1][:8]
    logged = [r.getMessage() for r in caplog.records if error_id in r.getMessage()]
    assert logged and "RuntimeError" in logged[0] and "command /uchi" in logged[0]
    assert "private words" not in caplog.text


def test_message_text_is_not_written_to_logs(bot, caplog):
    with caplog.at_level(logging.DEBUG):
        bot.slack.mention(ASKER, "私の秘密の質問: zebra-otter-4471")
        bot.fake.wait_for("chat.update")
    assert caplog.records and "zebra-otter" not in caplog.text and "秘密" not in caplog.text


# Rendering -----------------------------------------------------------------------------------------------

def test_answers_never_ping_and_long_answers_are_split():
    from uchi.bot import blocks

    from uchi.serving.answers import Answer

    answer = Answer(id=7, question="長い質問", answer="<!channel> ping <@U123> and <!subteam^S1> @here &amp; "
                    + "長い回答。" * 1500, adapter_version="v3-1a2b3c4d", served_model="uchi-v3-1a2b3c4d",
                    latency_ms=1234.0, asker="U1", channel="C1", alias="production", canary_id=None, created_at="")
    messages = blocks.answer_messages("ja", answer)
    rendered = json.dumps(messages, ensure_ascii=False)
    assert "<!" not in rendered and "<@" not in rendered and "@here" not in rendered
    assert "&lt;!channel&gt;" in rendered and "&amp;amp;" in rendered
    sections = [b for m in messages for b in m["blocks"] if b["type"] == "section"]
    assert len(sections) == 3 and all(len(b["text"]["text"]) <= 3000 for b in sections)
    assert "".join(b["text"]["text"] for b in sections).count("長い回答。") == 1500
    assert [b.get("block_id") for b in messages[-1]["blocks"]][-1] == "feedback"
    assert "1.2 秒" in rendered
    assert blocks.split("a" * 10, limit=4) == ["aaaa", "aaaa", "aa"] and blocks.split("") == [""]


def test_an_answer_quotes_its_approved_source_escaped_and_numbered():
    import dataclasses

    from uchi.bot import blocks
    from uchi.data.retrieval import Hit
    from uchi.serving.answers import Answer

    hit = Hit(pair_id=12, question="経費精算は？", answer="経費精算は<!here>Ledgerlyで。\n30日以内です。", language="ja",
              score=0.03, rank=1, similarity=0.9, author="U1", reviewed_by="U2", reviewed_at="2026-12-01T00:00:00")
    answer = Answer(id=8, question="立て替えは？", answer="Ledgerlyです。", adapter_version=None, served_model="base",
                    latency_ms=900.0, asker="U1", channel="C1", alias="production", canary_id=None, created_at="",
                    sources=[hit], quote=hit)
    [message] = blocks.answer_messages("ja", answer)
    sections = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    assert sections == ["Ledgerlyです。", "*承認済みの回答*（#12）:\n> 経費精算は&lt;!here&gt;Ledgerlyで。\n> 30日以内です。"]
    assert blocks.answer_messages("en", dataclasses.replace(answer, quote=None))[0]["blocks"][1]["type"] == "context"


# Setup ---------------------------------------------------------------------------------------------------

def test_manifest_declares_every_command_shortcut_event_and_scope():
    import yaml

    from conftest import REPO
    from uchi.bot.listeners.commands import COMMANDS
    from uchi.bot.listeners.events import EVENTS
    from uchi.bot.listeners.shortcuts import SHORTCUTS

    manifest = yaml.safe_load((REPO / "bot" / "manifest.yaml").read_text(encoding="utf-8"))
    assert {c["command"] for c in manifest["features"]["slash_commands"]} == set(COMMANDS)
    assert {s["callback_id"] for s in manifest["features"]["shortcuts"]} == set(SHORTCUTS)
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == set(EVENTS)
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"app_mentions:read", "chat:write", "commands", "im:history", "users:read", "usergroups:read",
            "files:write", "channels:history", "groups:history"} <= scopes
    assert manifest["settings"]["interactivity"]["is_enabled"] and manifest["features"]["app_home"]["home_tab_enabled"]


def test_bot_command_names_missing_tokens(monkeypatch, capsys):
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    assert main(["bot"]) == 2
    err = capsys.readouterr().err
    assert "SLACK_BOT_TOKEN is not set" in err and "SLACK_APP_TOKEN is not set" in err
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    assert main(["bot", "--http"]) == 2
    err = capsys.readouterr().err
    assert "SLACK_SIGNING_SECRET is not set" in err and "SLACK_BOT_TOKEN" not in err


def test_bot_command_reports_a_rejected_token(fake_slack, monkeypatch, capsys):
    monkeypatch.setenv("UCHI_SLACK_API_URL", fake_slack.api_url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-revoked")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s3cret")
    assert main(["bot", "--http"]) == 2
    assert "Slack rejected SLACK_BOT_TOKEN" in capsys.readouterr().err
    assert fake_slack.called("auth.test")[0].response == {"ok": False, "error": "invalid_auth"}
