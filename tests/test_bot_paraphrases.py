"""Other ways to ask, from Slack: the teach form's field, and employees' 👍 questions offered in the App Home as
"another way to ask pair N?" (real Bolt app on loopback, Slack faked at its HTTP edge)."""
import json

import pytest

from conftest import free_port
from slack_fake import fake_slack, start_bot, stop_bot  # noqa: F401 (fixture)
from uchi import config as config_module
from uchi.data import paraphrases
from uchi.data.pairs import NewPair, add_pairs, load_pairs
from uchi.data.store import Store

REVIEWER, ASKER = "U0REVIEWER", "U0ASKER"


@pytest.fixture
def bot(fake_slack, monkeypatch):
    for name, value in {"UCHI_SLACK_API_URL": fake_slack.api_url, "UCHI_SLACK_REVIEWERS": REVIEWER,
                        "UCHI_SERVING_PORT": str(free_port())}.items():
        monkeypatch.setenv(name, value)
    harness = start_bot(config_module.load(), fake_slack)
    yield harness
    stop_bot(harness)


def test_teach_form_keeps_other_ways_to_ask_as_reviewer_paraphrases(bot):
    bot.slack.command("/teach", "", ASKER)
    view = bot.fake.wait_for("views.open", lambda a: a["view"].get("callback_id") == "teach")[-1].response["view"]
    assert any(b.get("block_id") == "paraphrases" and b.get("optional") for b in view["blocks"])
    response = bot.slack.submit(ASKER, view, {"question": "Where is the bike parking?",
                                              "answer": "Bike parking is at gate C-2.",
                                              "paraphrases": "Where can I leave my bicycle?\n\nWhere do bikes go?"})
    assert response.json()["response_action"] == "update"
    with Store.open(bot.services.cfg) as store:
        [pair] = load_pairs(store)
        found = store.rows("SELECT question, source, status, origin FROM paraphrases WHERE pair_id = ?", [pair["id"]])
    assert [(r["question"], r["source"], r["status"], r["origin"]) for r in found] == [
        ("Where can I leave my bicycle?", "reviewer", "confirmed", "slack:teach"),
        ("Where do bikes go?", "reviewer", "confirmed", "slack:teach")]


def test_reviewer_keeps_an_employee_question_from_the_app_home(bot):
    with Store.open(bot.services.cfg) as store:
        [pid] = add_pairs(store, [NewPair("駐車場のゲートコードは？", "駐車場のゲートコードは4471です。")],
                          source="import:h.csv", author="U1", heldout_percent=1, status="approved", reviewer="U1")
        answer = store.db["answers"].insert({"question": "車で来たとき門を開ける番号は？", "answer": "4471",
                                             "served_model": "base", "latency_ms": 1.0, "created_at": "t"}).last_pk
        store.db["answer_sources"].insert({"answer_id": answer, "pair_id": pid, "rank": 0, "score": 0.9})
        store.db["ratings"].insert({"answer_id": answer, "user": ASKER, "value": 1, "created_at": "t",
                                    "updated_at": "t"})
        store.db.conn.commit()
    bot.slack.home_opened(REVIEWER)
    bot.fake.wait_for("views.publish")
    home = bot.fake.called("views.publish", lambda a: a["user_id"] == REVIEWER)[-1].response["view"]
    shown = json.dumps(home, ensure_ascii=False)
    assert f"Another way to ask pair *#{pid}*?" in shown and "車で来たとき門を開ける番号は？" in shown
    with Store.open(bot.services.cfg) as store:
        [(offered)], _ = paraphrases.suggestions(store)
    bot.slack.click_home(REVIEWER, home, "paraphrase_confirm", str(offered.id))
    bot.fake.wait_for("views.publish", count=2)
    with Store.open(bot.services.cfg) as store:
        kept = paraphrases.of(store, [pid])[pid]
    assert [(p.question, p.source) for p in kept] == [("車で来たとき門を開ける番号は？", "employee")]
    assert "Another way to ask" not in json.dumps(bot.fake.called("views.publish")[-1].response["view"])
