"""Human scores that gate: a candidate's human check is pending until blind votes (or a canary's thumbs)
exist; promotion waits meanwhile. Real SQLite and real report files, Slack faked at its HTTP edge, no model
(fast tier): an eval is stored as the harness stores one, with answers that differ from production's."""
import io
import json
from pathlib import Path

import pytest

from conftest import free_port
from slack_fake import BOT_TOKEN, fake_slack, start_bot, stop_bot  # noqa: F401 (fixture)
from uchi import config as config_module
from uchi.bot import ballots
from uchi.bot.web import web_client
from uchi.cli import main
from uchi.data import adapters
from uchi.data.adapters import PRODUCTION
from uchi.data.store import Store, now
from uchi.errors import UchiError
from uchi.evals import gate, human, judge, report
from uchi.evals.harness import breakdown
from uchi.evals.result import EvalResult
from uchi.serving.registry import check_gate, latest_eval, switch

ADMIN, JA_ADMIN, REVIEWER, JA_REVIEWER = "U0ADMIN", "U0KATO", "U0REVIEWER", "U0TANAKA"
QUESTIONS = [("Where do I file expenses?", "en"), ("What is the Wi-Fi password?", "en"),
             ("経費はどこで申請しますか？", "ja"), ("会議室の予約方法は？", "ja"), ("Who approves leave?", "en")]


@pytest.fixture
def hcfg(monkeypatch):
    for name, value in {"UCHI_EVAL_HARD_GATES": "company,human", "UCHI_EVAL_MIN_VOTES": "4",
                        "UCHI_SERVING_CANARY_MIN_RATINGS": "5", "UCHI_SERVING_PORT": str(free_port())}.items():
        monkeypatch.setenv(name, value)
    return config_module.load()


def stored_eval(cfg, store: Store, content: str = "weights") -> tuple[str, int]:
    """An adapter row and an eval as harness.evaluate leaves them: company passed, human still to decide."""
    version = f"v1-{content}"
    store.db["snapshots"].insert({"hash": "s1", "pair_ids": "[]", "n_pairs": 5, "created_at": now()}, ignore=True)
    run = store.db["runs"].insert({"snapshot": "s1", "base_model": cfg.model.base, "status": "succeeded",
                                   "params": "{}", "started_at": now()}).last_pk
    store.db["adapters"].insert({"version": version, "run_id": run, "snapshot": "s1", "base_model": cfg.model.base,
                                 "path": "/nowhere", "created_at": now(),
                                 "metadata": json.dumps({"snapshot": "s1", "n_pairs": 5, "seconds": 3.0})})
    rows = {name: [{"set": "paraphrase", "pair_id": i, "language": lang, "category": "it", "question": q,
                    "reference": "ref", "answer": f"{name} answer {i}", "fact_recall": 1.0 if name == "candidate"
                    else 0.0, "rouge_l": 0.5} for i, (q, lang) in enumerate(QUESTIONS)] for name in ("base", "candidate")}
    checks = [gate.company([1.0] * 5, [0.0] * 5, cfg.eval, "base"), gate.human(0, 0, 0, cfg.eval)]
    verdict = gate.decide(checks)
    eval_id = store.db["evals"].insert({"adapter_version": version, "production_version": None,
                                       "metrics": json.dumps({"checks": verdict.to_json()}), "passed": 0,
                                       "reasons": json.dumps(verdict.reasons), "report_path": "",
                                       "created_at": now()}).last_pk
    result = EvalResult(id=eval_id, version=version, production=None, baseline="base",
                        scores={name: breakdown(r) for name, r in rows.items()}, passed=verdict.passed,
                        reasons=verdict.reasons, checks=verdict.to_json(), items=rows,
                        adapter=adapters.get(store, version))
    store.db["evals"].update(eval_id, {"report_path": str(report.write(cfg, result))})
    return version, eval_id


def vote_all(cfg, store, eval_id: int, voter: str, prefer: str) -> None:
    """One voter votes on every comparison for `prefer` (candidate or production), as they saw them."""
    while (shown := human.next_comparison(store, eval_id, voter)) is not None:
        left = human.candidate_is_left(eval_id, shown["item"], voter) == (prefer == "candidate")
        human.record_vote(cfg, store, eval_id, shown["item"], voter, "left" if left else "right")


def test_pending_with_no_votes_blocks_promotion_and_says_how_to_go_on(hcfg, capsys):
    with Store.open(hcfg) as store:
        version, eval_id = stored_eval(hcfg, store)
    assert main(["adapters"]) == 0
    assert [line.split("\t")[3] for line in capsys.readouterr().out.splitlines()] == ["gate pending"]
    with Store.open(hcfg) as store:
        assert human.state(latest_eval(store, version)) == "pending"
        with pytest.raises(human.Pending) as caught:
            check_gate(hcfg, store, version, None)
        message = str(caught.value)
        for hint in ("0 of 4 blind votes so far", f"uchi eval vote {eval_id}", "in Slack",
                     f"uchi canary start {version}", "--force"):
            assert hint in message
        assert check_gate(hcfg, store, version, None, human_pending_ok=True)["id"] == eval_id  # a canary may start
        assert check_gate(hcfg, store, version, "hotfix")["id"] == eval_id
        with pytest.raises(UchiError, match="--force needs a reason"):
            check_gate(hcfg, store, version, "  ")
        markdown = Path(latest_eval(store, version)["report_path"]).read_text(encoding="utf-8")
        assert "gate PENDING" in markdown and "| human: side-by-side win rate |" in markdown
        assert "decided by: none yet (pending)" in markdown
        # What registry.promote records when forced (the switch itself needs a model server: vllm tier).
        switch(store, PRODUCTION, version, expected=None, actor=ADMIN, reason="hotfix for the VPN answer", forced=True)
        assert human.redecide(hcfg, store, eval_id)["state"] == "pending"
        markdown = Path(latest_eval(store, version)["report_path"]).read_text(encoding="utf-8")
        assert "decided by: none: forced" in markdown
        assert f'promoted by {ADMIN} with --force "hotfix for the VPN answer"' in markdown


def test_min_votes_for_the_candidate_pass_and_against_it_fail(hcfg):
    with Store.open(hcfg) as store:
        version, eval_id = stored_eval(hcfg, store)
        human.record_vote(hcfg, store, eval_id, 0, "U1", "tie")
        with pytest.raises(human.Pending, match="1 of 4 blind votes"):
            check_gate(hcfg, store, version, None)
        vote_all(hcfg, store, eval_id, "U1", "candidate")  # the other four items; item 0 stays a tie
        evaluation = check_gate(hcfg, store, version, None)
        assert evaluation["passed"] == 1 and human.state(evaluation) == "passed"
        assert human.votes(store, eval_id) == {"candidate": 4, "production": 0, "tie": 1}
        path = Path(evaluation["report_path"])
        markdown, page = path.read_text(encoding="utf-8"), path.with_suffix(".html").read_text(encoding="utf-8")
        assert "gate PASSED" in markdown and "decided by: blind side-by-side votes" in markdown
        assert "4 for the candidate, 0 for production, 1 ties" in markdown
        assert "<h2>Human evidence</h2>" in page and "blind side-by-side votes" in page

        loser, lost_id = stored_eval(hcfg, store, "other")
        vote_all(hcfg, store, lost_id, "U2", "production")
        with pytest.raises(UchiError, match="failed its gate .*human: win rate 0.00"):
            check_gate(hcfg, store, loser, None)


def rate(store: Store, canary_id: int, alias: str, version: str, values: list[int]) -> None:
    for n, value in enumerate(values):
        answer = store.db["answers"].insert({"question": f"q{n}", "answer": "a", "adapter_version": version,
                                             "served_model": f"uchi-{version}", "latency_ms": 1.0, "alias": alias,
                                             "canary_id": canary_id, "created_at": now()}).last_pk
        store.db["ratings"].insert({"answer_id": answer, "user": f"U{n}", "value": value, "created_at": now(),
                                    "updated_at": now()})


def test_a_canary_that_ended_without_rollback_is_human_evidence(hcfg):
    with Store.open(hcfg) as store:
        version, _ = stored_eval(hcfg, store)
        rolled = store.db["canaries"].insert({"version": version, "production_version": None, "share": 0.2,
                                              "actor": ADMIN, "started_at": now(), "ended_at": now(),
                                              "outcome": "rolled back"}).last_pk
        rate(store, rolled, "candidate", version, [1] * 6)
        rate(store, rolled, "production", None, [1] * 6)
        stopped = store.db["canaries"].insert({"version": version, "production_version": None, "share": 0.2,
                                               "actor": ADMIN, "started_at": now(), "ended_at": now(),
                                               "outcome": "stopped"}).last_pk
        rate(store, stopped, "candidate", version, [1] * 4)  # too few thumbs to judge yet
        rate(store, stopped, "production", None, [1, -1] * 3)
        with pytest.raises(human.Pending):  # a rolled-back canary is no evidence, nor one with too few ratings
            check_gate(hcfg, store, version, None)
        rate(store, stopped, "candidate", version, [1, -1])
        evaluation = check_gate(hcfg, store, version, None)
        assert human.state(evaluation) == "passed"
        markdown = Path(evaluation["report_path"]).read_text(encoding="utf-8")
        assert "decided by: canary thumbs" in markdown and f"canary #{stopped} of {version}" in markdown
        assert "thumbs-down 1/6 vs 3/6 for production" in markdown


def test_cli_vote_records_blind_votes_as_the_voter_saw_them(hcfg, monkeypatch, capsys):
    with Store.open(hcfg) as store:
        _, eval_id = stored_eval(hcfg, store)
    monkeypatch.setattr("sys.stdin", io.StringIO("a\nx\nb\nt\nq\n"))
    assert main(["eval", "vote", str(eval_id), "--by", "cli:alice"]) == 0
    out = capsys.readouterr().out
    assert out.count("  A: ") == 4 and "3 votes recorded by cli:alice" in out and "gate pending" in out
    with Store.open(hcfg) as store:
        cast = store.rows("SELECT item, choice FROM sbs_votes WHERE voter = 'cli:alice' ORDER BY item")
    picks = ["left", "right", "tie"]
    expected = [("tie" if pick == "tie" else "candidate" if (pick == "left") == human.candidate_is_left(
        eval_id, item, "cli:alice") else "production") for item, pick in enumerate(picks)]
    assert [(r["item"], r["choice"]) for r in cast] == list(enumerate(expected))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # input ends: stops without a traceback
    assert main(["eval", "vote", str(eval_id), "--by", "cli:bob"]) == 0
    assert main(["eval", "vote", "999"]) == 2 and "no eval #999" in capsys.readouterr().err


def test_reviewers_get_a_blind_batch_and_promote_waits_in_their_language(fake_slack, hcfg, monkeypatch):
    for name, value in {"UCHI_SLACK_API_URL": fake_slack.api_url, "UCHI_SLACK_ADMINS": f"{ADMIN},{JA_ADMIN}",
                        "UCHI_SLACK_REVIEWERS": f"{REVIEWER},{JA_REVIEWER}"}.items():
        monkeypatch.setenv(name, value)
    fake_slack.locales[JA_REVIEWER] = fake_slack.locales[JA_ADMIN] = "ja-JP"
    cfg = config_module.load()
    bot = start_bot(cfg, fake_slack)
    try:
        with Store.open(cfg) as store:
            version, eval_id = stored_eval(cfg, store)
            asked = ballots.ask(web_client(cfg, BOT_TOKEN), cfg, store, "en", eval_id)
        assert asked == [REVIEWER, JA_REVIEWER]
        dms = fake_slack.called("chat.postMessage")
        assert [c.args["channel"] for c in dms] == asked and "0 of 4 so far" in dms[0].args["text"]
        bot.slack.click(REVIEWER, dms[0].response["channel"], dms[0].response["ts"], "compare_open")
        view = fake_slack.wait_for("views.open")[0].response["view"]
        assert "Answer A" in json.dumps(view["blocks"]) and f"Eval #{eval_id}" in json.dumps(view["blocks"])

        bot.slack.command("/promote", version, ADMIN)
        bot.slack.command("/promote", version, JA_ADMIN)  # still waiting; nothing switched
        bot.slack.click(JA_REVIEWER, dms[1].response["channel"], dms[1].response["ts"], "compare_open", value="x")
        texts = [r["text"] for r in bot.responses(3)]
        waiting = [t for t in texts if f"{version} waits for human evidence: 0 of 4 blind votes" in t]
        assert len(waiting) == 1 and f"uchi eval vote {eval_id}" in waiting[0] and "--force" in waiting[0]
        assert any(f"{version} は人による評価を待っています（ブラインド投票 0 / 4 票）" in t for t in texts)
        assert any("この比較ボタンは不正です" in t for t in texts)
        with Store.open(cfg) as store:
            assert store.one("SELECT COUNT(*) AS n FROM promotions")["n"] == 0
            vote_all(cfg, store, eval_id, REVIEWER, "candidate")
            assert ballots.ask(web_client(cfg, BOT_TOKEN), cfg, store, "en", eval_id) == []  # decided: no batch
    finally:
        stop_bot(bot)


def test_an_unreachable_judge_leaves_its_grades_empty_instead_of_failing(monkeypatch):
    monkeypatch.setenv("UCHI_EVAL_JUDGE_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("UCHI_EVAL_JUDGE_MODEL", "judge")
    monkeypatch.setenv("UCHI_SERVING_REQUEST_TIMEOUT_S", "2")
    rows = [{"question": "q", "reference": "r", "answer": "a"}] * 3
    assert judge.grade(config_module.load(), rows) == [None, None, None]
