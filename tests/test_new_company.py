"""A company nobody prepared for (issue 18): the second sample company's handbook as a plain question,answer CSV
(no facts, no paraphrases) through import -> train -> eval -> promote, without --force, on the real model and a
real vLLM server, with every default as shipped.

No default was tuned on this company. Its held-aside evaluation file (facts and a human-written paraphrase per
pair) is read only here, after the product has done its work, to check that the gate's evidence holds on
questions people wrote.

Cheap as it can be: 40 of the 169 pairs (every fourth, both languages, every category), MMLU alone for general
ability (the benchmark whose margin small data broke) at its shipped 40 items. The company check's items are the
ones the product makes itself from what a company has on day one (generated rewordings, a language-stratified
held-out split); the human check's blind votes are cast by reviewers who prefer the answer stating more of the pair's
facts, through the product's own ballot.
It is issue 18's acceptance run, so it is not in `make test`: run it with
`.venv/bin/python -m pytest tests/test_new_company.py -m acceptance` (tens of minutes on 2 CPU cores).
"""
import csv
import statistics

import pytest

from conftest import BENCHMARKS
from uchi import config as config_module
from uchi.cli import main
from uchi.data.retrieval import Retriever
from uchi.data.samples import evaluation_rows, handbook_file
from uchi.data.store import Store
from uchi.evals import human
from uchi.evals.harness import generate
from uchi.evals.metrics import fact_recall
from uchi.serving.registry import PRODUCTION, promote
from uchi.trainer.runner import launch

COMPANY = "aobato"
EVERY = 4


def test_the_second_company_is_a_plain_handbook_with_an_evaluation_held_aside(store, cfg):
    """Fast: the CSV imports as any company's would, and the held-aside file describes exactly its pairs."""
    from uchi.data.importer import import_file

    with open(handbook_file(COMPANY), encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["question", "answer"] and len(rows) >= 160
    ids = import_file(store, cfg, handbook_file(COMPANY), author="cli:test", approve=True)
    assert len(set(ids)) == len(rows) and not store.rows("SELECT * FROM conflicts")
    stored = {p["question"]: p for p in store.rows("SELECT question, answer, language FROM pairs")}
    held = evaluation_rows(COMPANY)
    assert [r["question"] for r in held] == [r["question"] for r in rows]
    for row in held:
        pair = stored[row["question"]]
        assert pair["answer"] == row["answer"] and pair["language"] == row["language"]  # nothing redacted
        assert row["facts"] and all(f in row["answer"] for f in row["facts"])
        assert row["paraphrase"] and row["paraphrase"] not in stored  # a rewording, not another pair's question
    japanese = sum(r["language"] == "ja" for r in held)
    assert 0.4 <= japanese / len(held) <= 0.6


def _subset(tmp_path):
    with open(handbook_file(COMPANY), encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["question", "answer"]  # all a real company has
    chosen = rows[::EVERY]
    path = tmp_path / "handbook.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["question", "answer"])
        writer.writeheader()
        writer.writerows(chosen)
    return path, {r["question"] for r in chosen}


def _reviewers_vote(cfg, store, result):
    """Reviewers who know the handbook: each prefers the answer stating more of its pair's facts, a tie when
    both state as many. Votes go through the product's own blind ballot (the order is the server's)."""
    recall = {name: {i: row["fact_recall"] for i, row in enumerate(result.items[name])}
              for name in (result.baseline, "candidate")}
    items = [c["item"] for c in human.comparisons(store, result.id)]
    assert items, "candidate and production answered every question alike"
    for n in range(-(-cfg.eval.min_votes // len(items))):
        voter = f"U_REVIEWER{n}"
        for item in items:
            candidate, production = recall["candidate"][item] or 0, recall[result.baseline][item] or 0
            if candidate == production:
                pick = "tie"
            else:
                pick = "left" if (candidate > production) == human.candidate_is_left(result.id, item, voter) \
                    else "right"
            human.record_vote(cfg, store, result.id, item, voter, pick)


def _recall(cfg, store, client, model, rows):
    retriever = Retriever(cfg.retrieval)
    contexts = [[(h.question, h.answer) for h in retriever.search(store, r["paraphrase"], k=cfg.retrieval.k)]
                for r in rows]
    answers = generate(client, model, [r["paraphrase"] for r in rows], cfg.model.max_new_tokens,
                       cfg.eval.concurrency, contexts)
    return statistics.fmean(fact_recall(a, r["facts"]) for a, r in zip(answers, rows))


@pytest.mark.acceptance
@pytest.mark.slow
@pytest.mark.vllm
def test_a_question_answer_csv_reaches_production_without_force(tmp_path, base_model_dir, vllm, capsys):
    env = {"UCHI_STATE_DIR": str(tmp_path / "state"), "UCHI_MODEL_BASE": str(base_model_dir),
           "UCHI_SERVING_PORT": vllm["env"]["UCHI_SERVING_PORT"], "UCHI_EVAL_BENCHMARKS_DIR": str(BENCHMARKS),
           "UCHI_EVAL_BENCHMARKS": "mmlu"}
    cfg = config_module.load(env=env)
    path, questions = _subset(tmp_path)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        assert main(["data", "import", str(path), "--approve"]) == 0
    capsys.readouterr()
    client = vllm["client"]
    with Store.open(cfg) as store:
        assert store.one("SELECT COUNT(*) AS n FROM pairs WHERE status = 'approved'")["n"] == len(questions)
        assert store.one("SELECT COUNT(*) AS n FROM paraphrases")["n"] == 0  # nothing but questions and answers
        adapter = launch(cfg, store, log=print)  # as `uchi train` does
        from uchi.evals.harness import evaluate

        result = evaluate(cfg, store, client, adapter.version, log=print, both_settings=False)
        checks = {c["gate"] + ":" + c["metric"]: c for c in result.checks}
        company = checks["company:paraphrase fact recall"]
        # The gate decides on evidence: items of both languages, a gain whose interval clears the margin, or
        # (too few items for that on day one) a gain that is not worse anywhere, left to the blind votes.
        print(f"\ncompany check: {company['note']}")
        assert company["n"] >= 2 and "too few items" not in company["note"], company["note"]
        assert company["passed"] and company["delta"] > 0, company["note"]
        assert company["low"] > cfg.eval.margin or company["low"] >= -cfg.eval.company_noninferiority
        general = checks["general:mmlu gold log-prob"]
        assert general["passed"] and general["low"] >= -cfg.eval.noninferiority, general["note"]
        # Every measured check passed; the human check waits for blind votes (issue 18 item 5).
        assert result.reasons == [f"human: pending: 0 of {cfg.eval.min_votes} blind votes so far"], \
            result.reasons
        _reviewers_vote(cfg, store, result)
        assert human.state(store.one("SELECT * FROM evals WHERE id = ?", [result.id])) == "passed"

        held_aside = [r for r in evaluation_rows(COMPANY) if r["question"] in questions]
        trained = {p["question"] for p in store.rows("SELECT question FROM pairs WHERE split = 'train'")}
        asked = [r for r in held_aside if r["question"] in trained]
        before = _recall(cfg, store, client, cfg.model.served_name, asked)

        promoted = promote(cfg, store, client, adapter.version, actor="U_ADMIN")  # no force_reason
        assert store.alias(PRODUCTION) == adapter.version == promoted["version"]
        audit = store.one("SELECT * FROM promotions WHERE alias = ? AND to_version = ? ORDER BY id DESC LIMIT 1",
                          [PRODUCTION, adapter.version])
        assert audit["forced"] == 0 and audit["reason"].startswith("gate passed")
        # What employees get, on questions people wrote (never seen by the product): production answers them
        # with more of the facts than the base model did.
        after = _recall(cfg, store, client, promoted["served_as"], asked)
        print(f"\n{COMPANY}: {len(asked)} human paraphrases, fact recall with retrieval base {before:.2f} -> "
              f"production {after:.2f}")
        assert after > before
