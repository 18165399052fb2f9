"""Known today: a pair taught and approved in Slack changes the next answer to a reworded question within
seconds, with its source shown (slow + vllm tiers; no training involved)."""
import json

import pytest
from test_bot_loop import ASKER, REVIEWER, answer_row, answered, bot  # noqa: F401 (fixtures)

from slack_fake import fake_slack  # noqa: F401 (fixture)
from uchi.data.pairs import load_pairs
from uchi.data.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.vllm]

TAUGHT_Q = "What is the door code of the bicycle room in the Yokohama office?"
TAUGHT_A = "The door code of the Yokohama bicycle room is 5813."
REWORDED = "Which code opens the bike room at the Yokohama office?"


def test_an_approved_pair_answers_the_next_reworded_question_with_its_source(bot):
    bot.slack.mention(ASKER, REWORDED)
    before = answered(bot)
    assert "5813" not in before["text"] and "Sources" not in json.dumps(before["blocks"])

    assert bot.slack.command("/teach", "", ASKER).status_code == 200
    modal = bot.fake.wait_for("views.open")[0].response["view"]
    assert bot.slack.submit(ASKER, modal, {"question": TAUGHT_Q, "answer": TAUGHT_A}).status_code == 200
    with Store.open(bot.services.cfg) as store:
        [pending] = load_pairs(store, status="pending")
    bot.slack.home_opened(REVIEWER)
    home = bot.fake.wait_for("views.publish")[0].response["view"]
    bot.slack.click_home(REVIEWER, home, "review_approve", str(pending["id"]))
    bot.fake.wait_for("chat.postMessage", lambda a: a["channel"] == ASKER)

    bot.slack.mention(ASKER, REWORDED)
    after = answered(bot, 2)
    row = answer_row(bot, after["ts"])
    assert row["adapter_version"] is None  # no training happened: retrieval alone
    assert "5813" in after["text"], after["text"]
    shown = json.dumps(after["blocks"], ensure_ascii=False)
    assert f"#{pending['id']}" in shown and f"<@{REVIEWER}>" in shown and "Sources" in shown
    # The approved answer itself is quoted under the model's words, with its number (retrieval.quote)
    assert f"*The approved answer* (#{pending['id']}):\\n> {TAUGHT_A}" in shown, shown
    with Store.open(bot.services.cfg) as store:
        assert [(s["pair_id"], s["quoted"]) for s in store.rows(
            "SELECT pair_id, quoted FROM answer_sources WHERE answer_id = ? ORDER BY rank", [row["id"]])][:1] \
            == [(pending["id"], 1)]
