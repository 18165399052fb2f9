"""Blind side-by-side votes in Slack: reviewers compare production and candidate answers in random order,
and every vote re-decides the eval's gate (slow + vllm tiers; reuses the session's trained adapter)."""
import json
import shutil
from pathlib import Path

import pytest

from slack_fake import BOT_TOKEN, fake_slack, start_bot, stop_bot  # noqa: F401 (fixture)
from uchi import config as config_module
from uchi.bot import reports
from uchi.bot.web import web_client
from uchi.data import audit
from uchi.data.store import Store
from uchi.evals import human
from uchi.evals.harness import evaluate

pytestmark = [pytest.mark.slow, pytest.mark.vllm]
ADMIN, REVIEWER, OUTSIDER = "U0ADMIN", "U0REVIEWER", "U0OUTSIDER"


@pytest.fixture
def compare_bot(fake_slack, trained, vllm, monkeypatch, tmp_path):
    env, adapter = trained
    # A copy of the trained state: this test's eval and votes must not reach the other tests sharing it
    # (test_serving checks that promotion refuses an adapter nobody evaluated).
    shutil.copytree(env["UCHI_STATE_DIR"], tmp_path / "state", ignore=shutil.ignore_patterns("*.lock"))
    env = env | {"UCHI_STATE_DIR": str(tmp_path / "state")}
    for name, value in (env | {"UCHI_SLACK_API_URL": fake_slack.api_url, "UCHI_SLACK_ADMINS": ADMIN,
                               "UCHI_SLACK_REVIEWERS": REVIEWER, "UCHI_EVAL_MIN_VOTES": "4",
                               "UCHI_SERVING_PORT": vllm["env"]["UCHI_SERVING_PORT"]}).items():
        monkeypatch.setenv(name, value)
    harness = start_bot(config_module.load(), fake_slack)
    yield harness, adapter.version
    stop_bot(harness)


def test_reviewers_vote_blind_and_each_vote_redecides_the_gate(compare_bot):
    bot, version = compare_bot
    cfg = bot.services.cfg
    with Store.open(cfg) as store:
        result = evaluate(cfg, store, bot.services.model, version, log=lambda *_: None)
        ts = reports.post(web_client(cfg, BOT_TOKEN), store, "en", "C0GENERAL", None, result)
        comparisons = human.comparisons(store, result.id)
    assert len(comparisons) >= cfg.eval.min_votes

    bot.slack.click(OUTSIDER, "C0GENERAL", ts, "compare_open")
    assert bot.responses(1)[0]["text"].startswith("Sorry, only uchi reviewers")
    bot.slack.click(REVIEWER, "C0GENERAL", ts, "compare_open")
    view = bot.fake.wait_for("views.open")[0].response["view"]
    for n in range(len(comparisons)):
        shown = json.dumps(view["blocks"], ensure_ascii=False)
        assert "Answer A" in shown and "Answer B" in shown
        item = int(next(e["value"] for b in view["blocks"] if b.get("block_id") == "vote"
                        for e in b["elements"]).split(":")[1])
        # Vote for production every time: the candidate loses the blind comparison.
        pick = "compare_right" if human.candidate_is_left(result.id, item, REVIEWER) else "compare_left"
        bot.slack.click_home(REVIEWER, view, pick)
        view = bot.fake.wait_for("views.update", count=n + 1)[n].response["view"]
    assert "nothing left to compare" in json.dumps(view["blocks"]) and "Gate: FAILED" in json.dumps(view["blocks"], ensure_ascii=False)
    with Store.open(cfg) as store:
        row = store.one("SELECT passed, reasons FROM evals WHERE id = ?", [result.id])
        assert row["passed"] == 0 and "human" in row["reasons"]
        assert human.votes(store, result.id)["production"] == len(comparisons)

    # An admin overrides the failed gate: audited with the reason, and the report says who let it through.
    bot.slack.command("/promote", f"{version} --force \"the reviewers prefer production; shipping the fix anyway\"",
                      ADMIN)
    promoted = bot.responses(2)[1]
    assert promoted["response_type"] == "in_channel" and "shipping the fix anyway" in promoted["text"]
    with Store.open(cfg) as store:
        [forced] = audit.entries(store, outcome="forced")
        report_path = store.one("SELECT report_path FROM evals WHERE id = ?", [result.id])["report_path"]
    assert (forced["actor"], forced["action"], forced["target"]) == (ADMIN, "promote", version)
    assert f"promoted by {ADMIN} with --force" in Path(report_path).read_text(encoding="utf-8")
