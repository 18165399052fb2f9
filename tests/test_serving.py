"""The loop's back half against a real vLLM server and a really trained adapter (vllm tier)."""
import json
from pathlib import Path

import pytest

from conftest import FACTS
from uchi import config as config_module
from uchi.data.adapters import PRODUCTION, served_name
from uchi.data.store import Store
from uchi.errors import UchiError
from uchi.evals.harness import evaluate
from uchi.prompt import messages
from uchi.serving.answers import ask
from uchi.serving.registry import promote

pytestmark = [pytest.mark.slow, pytest.mark.vllm]


@pytest.fixture(scope="module")
def loop(trained, vllm):
    env, adapter = trained
    cfg = config_module.load(env=env | {"UCHI_SERVING_PORT": vllm["env"]["UCHI_SERVING_PORT"]})
    with Store.open(cfg) as store:
        yield cfg, store, vllm["client"], adapter.version


def test_promotion_needs_an_eval_or_an_audited_force(loop):
    cfg, store, client, version = loop
    with pytest.raises(UchiError, match="has not been evaluated"):
        promote(cfg, store, client, version, actor="U_ADMIN")
    with pytest.raises(UchiError, match="needs a reason"):
        promote(cfg, store, client, version, actor="U_ADMIN", force_reason="  ")
    assert store.alias(PRODUCTION) is None


def test_eval_scores_base_and_candidate_through_vllm(loop, tmp_path):
    cfg, store, client, version = loop
    result = evaluate(cfg, store, client, version, log=lambda *_: None)
    scores = result.scores
    assert scores["candidate"]["paraphrase"]["n"] == len(FACTS)
    assert scores["candidate"]["paraphrase/ja"]["n"] == 2
    assert scores["candidate"]["paraphrase"]["fact_recall"] > scores["base"]["paraphrase"]["fact_recall"]
    # Every measured gate passed; the human check waits for blind votes (test_side_by_side_votes_...).
    assert not result.passed and result.reasons == ["human: pending: 0 of 10 blind votes so far"]
    checks = {c["metric"]: c for c in result.checks}
    assert checks["paraphrase fact recall"]["n"] == 8 and not checks["paraphrase fact recall"]["hard"]
    assert {"piqa gold log-prob", "jcommonsenseqa gold log-prob", "jmmlu gold log-prob", "mmlu gold log-prob",
            "KL from base on general prompts", "side-by-side win rate"} <= set(checks)
    assert checks["jmmlu gold log-prob"]["n"] == 12 and checks["side-by-side win rate"]["n"] == 0
    report = Path(result.report_path).read_text()
    assert "gate PENDING" in report and "| paraphrased questions of trained pairs | 8 |" in report
    row = store.one("SELECT * FROM evals WHERE id = ?", [result.id])
    assert row["passed"] == 0 and json.loads(row["metrics"])["scores"]["candidate"]["paraphrase"]["n"] == 8
    # The standalone HTML page renders, with its plots, in a real browser.
    from browser import dump_dom, screenshot

    page = Path(result.report_path).with_suffix(".html")
    dom = dump_dom(page)
    assert "gate PENDING" in dom and "Human evidence" in dom and dom.count("data:image/png;base64,") == 3
    png = screenshot(page, tmp_path / "report.png")
    from PIL import Image

    image = Image.open(png).convert("L")
    assert image.size == (1100, 2400) and len(set(image.getdata())) > 50  # text and plots, not a blank page


def test_second_eval_reuses_cached_scores(loop):
    cfg, store, client, version = loop
    before = store.one("SELECT COUNT(*) AS n FROM eval_cache")["n"]
    result = evaluate(cfg, store, client, version, log=lambda *_: None)
    assert store.one("SELECT COUNT(*) AS n FROM eval_cache")["n"] == before
    assert result.reasons == ["human: pending: 0 of 10 blind votes so far"]


def test_side_by_side_votes_redecide_the_gate(loop):
    from uchi.evals import human

    cfg, store, client, version = loop
    eval_id = store.one("SELECT MAX(id) AS id FROM evals")["id"]
    shown = human.next_comparison(store, eval_id, "U_R1")
    assert shown and {shown["left"], shown["right"]} == {
        c["production"] for c in human.comparisons(store, eval_id) if c["item"] == shown["item"]} | {
        c["candidate"] for c in human.comparisons(store, eval_id) if c["item"] == shown["item"]}
    items = [c["item"] for c in human.comparisons(store, eval_id)]
    with pytest.raises(human.Pending, match=f"0 of {cfg.eval.min_votes} blind votes so far"):
        promote(cfg, store, client, version, actor="U_ADMIN")
    voters = [f"U_R{i}" for i in range(-(-cfg.eval.min_votes // len(items)) + 1)]

    def vote_for(system):
        for voter in voters:
            for item in items:
                left_is_candidate = human.candidate_is_left(eval_id, item, voter)
                result = human.record_vote(cfg, store, eval_id, item, voter,
                                           "left" if (system == "candidate") == left_is_candidate else "right")
        return result

    lost = vote_for("production")
    assert not lost["passed"] and "human" in lost["reasons"][0]
    assert store.one("SELECT passed FROM evals WHERE id = ?", [eval_id])["passed"] == 0
    with pytest.raises(UchiError, match="failed its gate"):
        promote(cfg, store, client, version, actor="U_ADMIN")
    won = vote_for("candidate")  # a voter's second vote on an item replaces the first
    assert won["passed"] and won["votes"]["production"] == 0
    assert "gate PASSED" in Path(store.one("SELECT report_path FROM evals WHERE id = ?", [eval_id])["report_path"]).read_text()


def test_promoted_adapter_answers_what_the_base_model_cannot(loop):
    cfg, store, client, version = loop
    result = promote(cfg, store, client, version, actor="U_ADMIN")
    assert result["served_as"] == served_name(version) and store.alias(PRODUCTION) == version
    audit = store.one("SELECT * FROM promotions ORDER BY id DESC LIMIT 1")
    assert (audit["to_version"], audit["actor"], audit["forced"]) == (version, "U_ADMIN", 0)
    served = client.models()
    assert cfg.model.served_name in served and served_name(version) in served
    question, answer, facts, _ = FACTS[2]
    row = ask(cfg, store, client, question, asker="U_ASKER", channel="C1")
    assert facts[0] in row.answer
    assert row.adapter_version == version and row.latency_ms > 0
    logged = store.one("SELECT * FROM answers WHERE id = ?", [row.id])
    assert logged["served_model"] == served_name(version) and logged["asker"] == "U_ASKER"
    base_answer = client.chat(cfg.model.served_name, messages(question), 48)
    assert facts[0] not in base_answer


def test_production_adapter_is_reloaded_after_a_server_restart(loop):
    cfg, store, client, version = loop
    client.unload_adapter(served_name(version))  # what a vLLM restart looks like to uchi
    assert served_name(version) not in client.models()
    row = ask(cfg, store, client, FACTS[7][0])
    assert row.adapter_version == version and "7731" in row.answer


def test_rollback_returns_to_the_base_model_and_is_audited(loop):
    from uchi.serving.registry import rollback

    cfg, store, client, version = loop
    result = rollback(cfg, store, client, actor="U_ADMIN")
    assert result == {"version": None, "rolled_back": version}
    assert store.alias(PRODUCTION) is None
    row = ask(cfg, store, client, FACTS[7][0])
    assert row.adapter_version is None and row.served_model == cfg.model.served_name
    with pytest.raises(UchiError, match="nothing to roll back"):
        rollback(cfg, store, client, actor="U_ADMIN")
