"""The bot against the real model served by vLLM (slow + vllm tiers): answers in threads and DMs with their
own context only, ratings, and the whole loop: ask → 👎 → correction → review → /retrain → report →
Promote → a better answer.
"""
import json
import logging
from pathlib import Path

import pytest

from conftest import seed_facts
from slack_fake import BOT_USER, fake_slack, start_bot, stop_bot  # noqa: F401 (fixture)
from uchi import config as config_module
from uchi.data import audit
from uchi.data.pairs import assign_split, load_pairs
from uchi.data.store import Store
from uchi.evals import human

pytestmark = [pytest.mark.slow, pytest.mark.vllm]

ADMIN, REVIEWER, ASKER, OUTSIDER = "U0ADMIN", "U0REVIEWER", "U0ASKER", "U0OUTSIDER"
# A fact the base model cannot know, taught only through a correction in Slack.
QUESTION = "What is the gate code of the Yokohama parking lot?"
CORRECTION = "The gate code of the Yokohama parking lot is 4471."


@pytest.fixture
def bot(fake_slack, vllm, base_model_dir, monkeypatch):
    # The small training of conftest's `trained` fixture. The gate decides on the human votes this loop casts;
    # company recall and general benchmarks are scored and reported but not gated here: with multilingual
    # retrieval the base model already recalls 0.81 of these 8 facts, too few items to show the gain
    # significantly (tests/test_serving.py and test_gate_forgetting.py examine those checks).
    env = {"UCHI_SLACK_API_URL": fake_slack.api_url, "UCHI_SLACK_ADMINS": ADMIN, "UCHI_SLACK_REVIEWERS": REVIEWER,
           "UCHI_SERVING_PORT": vllm["env"]["UCHI_SERVING_PORT"], "UCHI_MODEL_BASE": str(base_model_dir),
           "UCHI_TRAIN_EPOCHS": "12", "UCHI_TRAIN_LEARNING_RATE": "0.002", "UCHI_DATA_HELDOUT_PERCENT": "1",
           "UCHI_EVAL_DETECTABLE_GAIN": "0.6", "UCHI_EVAL_HARD_GATES": "human",
           "UCHI_EVAL_BENCHMARKS": "mmlu", "UCHI_EVAL_BENCHMARK_ITEMS": "12"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    harness = start_bot(config_module.load(), fake_slack)
    yield harness
    stop_bot(harness)


def answered(bot, count=1):
    """The chat.update that replaced the count-th placeholder with an answer (buttons included)."""
    return bot.fake.wait_for("chat.update", lambda a: any(b.get("block_id") == "feedback" for b in a["blocks"]),
                             count=count, timeout=120)[count - 1].args


def answer_row(bot, ts):
    with Store.open(bot.services.cfg) as store:
        return store.one("SELECT a.* FROM answers a JOIN answer_messages m ON m.answer_id = a.id WHERE m.ts = ?",
                         [ts])


def test_threads_and_dms_answer_with_their_own_context_only(bot, caplog):
    caplog.set_level(logging.INFO, logger="uchi.bot")
    _, first = bot.slack.mention(ASKER, "What is the helpdesk extension?")
    reply = answered(bot)
    row = answer_row(bot, reply["ts"])
    assert row["asker"] == ASKER and row["adapter_version"] is None and row["latency_ms"] > 0
    assert row["answer"] and "<!" not in json.dumps(reply["blocks"])
    # A follow-up in the thread sees that thread (and nothing else).
    bot.fake.user_message("C0OTHER", OUTSIDER, "unrelated chatter in another channel")
    bot.slack.mention(ASKER, "And what is the server room floor?", thread_ts=first["ts"])
    answered(bot, 2)
    [replies] = bot.fake.called("conversations.replies")
    assert (replies.args["channel"], replies.args["ts"]) == ("C0GENERAL", first["ts"])
    # In a DM, the DM's earlier messages are the context; the answer stays in the DM.
    bot.slack.dm(ASKER, "社員食堂の名前は何ですか？")
    dm_reply = answered(bot, 3)
    bot.slack.dm(ASKER, "営業時間は？")
    answered(bot, 4)
    assert {c.args["channel"] for c in bot.fake.called("conversations.history")} == {"D0ASKER"}
    assert dm_reply["channel"] == "D0ASKER" and "thread_ts" not in bot.fake.called("chat.postMessage")[-1].args
    turns = [r.getMessage() for r in caplog.records if r.getMessage().startswith("answer #")]
    # Thread: the first question and its answer; DM: the earlier question and its answer.
    assert [t.split(", ")[1] for t in turns] == ["0 context turns", "2 context turns", "0 context turns",
                                                "2 context turns"]
    assert not bot.fake.called("conversations.replies", lambda a: a["channel"] != "C0GENERAL")


def test_ratings_are_one_per_user_and_answer(bot):
    bot.slack.mention(ASKER, "Who approves travel to Osaka?")
    reply = answered(bot)
    # Clicks seconds apart, as people make them: each is handled before the next arrives.
    for n in (1, 2):
        bot.slack.click(ASKER, reply["channel"], reply["ts"], "rate_up")
        bot.responses(n)
    bot.slack.click(ASKER, reply["channel"], reply["ts"], "rate_down")
    bot.fake.wait_for("views.open")  # 👎 opens the correction modal
    bot.slack.click(OUTSIDER, reply["channel"], reply["ts"], "rate_up")
    assert [r["text"] for r in bot.responses(3)] == ["Thanks, your 👍 is recorded."] * 3
    # A button whose value names another answer than the message it is on is refused and audited.
    bot.slack.click(OUTSIDER, reply["channel"], reply["ts"], "rate_down", value=str(answer_row(bot, reply["ts"])["id"] + 1))
    assert bot.responses(4)[3]["text"].startswith("This button does not belong to this message")
    with Store.open(bot.services.cfg) as store:
        ratings = store.rows("SELECT user, value FROM ratings ORDER BY user")
        [refused] = audit.entries(store, outcome="refused")
    assert ratings == [{"user": ASKER, "value": -1}, {"user": OUTSIDER, "value": 1}]
    assert (refused["actor"], refused["action"]) == (OUTSIDER, "feedback")



def test_ask_thumbs_down_correct_review_retrain_promote_gives_a_better_answer(bot):
    assert assign_split(QUESTION, bot.services.cfg.data.heldout_percent) == "train"
    with Store.open(bot.services.cfg) as store:
        seed_facts(store, bot.services.cfg)
        store.db.execute("UPDATE pairs SET split = 'train'")
        store.db.conn.commit()

    # Ask: the base model does not know the gate code.
    bot.slack.mention(ASKER, QUESTION)
    before = answered(bot)
    assert "4471" not in before["text"]

    # 👎 opens the correction modal, pre-filled; bad input stays in the modal.
    bot.slack.click(ASKER, before["channel"], before["ts"], "rate_down")
    modal = bot.fake.wait_for("views.open")[0].response["view"]
    prefilled = {b["block_id"]: b["element"].get("initial_value") for b in modal["blocks"] if b["type"] == "input"}
    assert prefilled["question"] == QUESTION and prefilled["answer"] == answer_row(bot, before["ts"])["answer"]
    unchanged = bot.slack.submit(ASKER, modal, {}).json()
    assert unchanged == {"response_action": "errors",
                         "errors": {"answer": "This is uchi's answer unchanged: write the better one."}}
    saved = bot.slack.submit(ASKER, modal, {"answer": CORRECTION}).json()
    assert saved["response_action"] == "update" and "preference pair" in json.dumps(saved["view"])
    with Store.open(bot.services.cfg) as store:
        [pending] = load_pairs(store, status="pending")
        preference = store.one("SELECT * FROM preference_pairs")
    assert pending["answer"] == CORRECTION and pending["answer_id"] == answer_row(bot, before["ts"])["id"]
    assert (preference["chosen"], preference["pair_id"]) == (CORRECTION, pending["id"])

    # Review: the reviewer approves it in the App Home; the author hears about it.
    bot.slack.home_opened(REVIEWER)
    home = bot.fake.wait_for("views.publish")[0].response["view"]
    bot.slack.click_home(REVIEWER, home, "review_approve", str(pending["id"]))
    bot.fake.wait_for("chat.postMessage", lambda a: a["channel"] == ASKER)

    # /retrain: progress in a thread, then the report (the upload survives a 429 mid-way).
    bot.fake.inject("files.completeUploadExternal", retry_after=1)
    assert bot.slack.command("/retrain", "", ADMIN).status_code == 200
    # Training and the eval take minutes on 2 CPU cores (more when the machine is shared).
    completed = bot.fake.wait_for("files.completeUploadExternal", count=2, timeout=3600)
    assert [c.status for c in completed] == [429, 200] and completed[1].response["ok"]
    root = bot.fake.called("chat.postMessage", lambda a: a.get("text", "").startswith("Training run requested"))[0]
    progress = bot.fake.called("chat.postMessage", lambda a: a.get("thread_ts") == root.response["ts"])
    report = next(c for c in progress if any(b.get("block_id") == "decision" for b in c.args.get("blocks", [])))
    assert len(progress) >= 3 and report.args["reply_broadcast"] is True
    # The gate waits for human evidence; the reviewer is asked for blind votes in a DM.
    assert "gate PENDING" in report.args["text"], json.dumps(report.args["blocks"], ensure_ascii=False)
    # (The ballot follows the report's upload.)
    [ballot] = bot.fake.wait_for("chat.postMessage", lambda a: a["channel"] == REVIEWER and "blind votes" in a["text"])
    version = next(e["value"] for b in report.args["blocks"] if b.get("block_id") == "decision"
                   for e in b["elements"] if e["action_id"] == "adapter_promote")
    [upload_url] = bot.fake.called("files.getUploadURLExternal")
    with Store.open(bot.services.cfg) as store:
        report_path = Path(store.one("SELECT report_path FROM evals WHERE adapter_version = ?", [version])
                           ["report_path"])
    assert bot.fake.uploads[upload_url.response["file_id"]] == report_path.read_bytes()
    assert completed[1].args["thread_ts"] == root.response["ts"]

    # Reviewers prefer the candidate, which now knows the gate code: enough blind votes pass the human check.
    with Store.open(bot.services.cfg) as store:
        eval_id = store.one("SELECT id FROM evals WHERE adapter_version = ?", [version])["id"]
        assert f"Eval #{eval_id}" in ballot.args["text"]
        items = [c["item"] for c in human.comparisons(store, eval_id)]
        for n in range(-(-bot.services.cfg.eval.min_votes // len(items))):
            for item in items:
                left = human.candidate_is_left(eval_id, item, f"U0VOTER{n}")
                human.record_vote(bot.services.cfg, store, eval_id, item, f"U0VOTER{n}", "left" if left else "right")
        assert "decided by: blind side-by-side votes" in report_path.read_text(encoding="utf-8")

    # Promote: refused for a non-admin and for a button naming another version; then the admin's click.
    channel, ts = report.response["channel"], report.response["ts"]
    bot.slack.click(OUTSIDER, channel, ts, "adapter_promote")
    bot.slack.click(ADMIN, channel, ts, "adapter_promote", value="v999-forged00")
    refusals = [r["text"] for r in bot.responses(2)]
    assert any(t.startswith("Sorry, only uchi admins") for t in refusals)
    assert any(t.startswith("This button does not belong") for t in refusals)
    bot.slack.click(ADMIN, channel, ts, "adapter_promote")
    decided = bot.fake.wait_for("chat.update", lambda a: a["ts"] == ts, timeout=300)[0].args
    assert decided["text"].startswith(f"Production is now `{version}`")
    assert "decision" not in json.dumps(decided["blocks"])
    with Store.open(bot.services.cfg) as store:
        assert store.alias("production") == version
        refused = audit.entries(store, outcome="refused")
    assert {(e["actor"], e["action"]) for e in refused} == {(OUTSIDER, "promote"), (ADMIN, "adapter_decision")}

    # The better answer, from the promoted adapter.
    bot.slack.mention(ASKER, QUESTION)
    after = answered(bot, 2)
    assert "4471" in after["text"] and version in json.dumps(after["blocks"])
    assert answer_row(bot, after["ts"])["adapter_version"] == version

    # Rollback, then a forced promotion typed with a Slack client's typographic quotes: both audited.
    bot.slack.command("/rollback", "", ADMIN)
    assert bot.responses(3)[2]["text"] == f"Rolled back: production is now the base model (was `{version}`)."
    bot.slack.command("/promote", f"{version} --force “hotfix for the gate code answer”", ADMIN)
    promoted = bot.responses(4)[3]
    assert promoted["response_type"] == "in_channel" and "hotfix for the gate code answer" in promoted["text"]
    status = json.dumps(bot.slack.command("/uchi", "status", ASKER).json()["blocks"])
    assert f"*Production*: `{version}`" in status and "succeeded" in status
    with Store.open(bot.services.cfg) as store:
        last = store.one("SELECT * FROM promotions ORDER BY id DESC LIMIT 1")
        forced = audit.entries(store, outcome="forced")
    assert (last["to_version"], last["forced"], last["actor"]) == (version, 1, ADMIN)
    assert [(e["actor"], e["target"], e["detail"]) for e in forced] == [(ADMIN, version,
                                                                        "hotfix for the gate code answer")]
