from rouge_score import rouge_scorer

from uchi.evals.gate import decide
from uchi.config import EvalConfig
from uchi.evals.metrics import extract_facts, fact_recall, rouge_l

JA_REF = "経費精算の締め切りは毎月九日です。"
JA_GOOD = "経費精算の締め切りは毎月九日です。"
JA_PARTIAL = "経費の締め切りは毎週です。"


def test_rouge_l_scores_japanese_where_rouge_score_default_gives_zero():
    default = rouge_scorer.RougeScorer(["rougeL"]).score(JA_REF, JA_GOOD)["rougeL"].fmeasure
    assert default == 0.0
    assert rouge_l(JA_GOOD, JA_REF) == 1.0
    assert 0.3 < rouge_l(JA_PARTIAL, JA_REF) < 1.0


def test_rouge_l_english():
    assert rouge_l("The VPN client is Kestrel Gate.", "Our VPN client is Kestrel Gate.") > 0.7
    assert rouge_l("I do not know.", "Our VPN client is Kestrel Gate.") < 0.2


def test_fact_recall_english_and_japanese():
    assert fact_recall("Call extension 4410 now", ["extension 4410"]) == 1.0
    assert fact_recall("内線４４１０にかけてください", ["内線4410"]) == 1.0  # full-width digits
    assert fact_recall("ケストレルです", ["ケストレル", "3.2"]) == 0.5
    assert fact_recall("anything", []) is None


def test_extracted_facts_when_none_listed():
    assert {"Kestrel Gate", "14 days", "4410"} <= set(
        extract_facts("Our VPN client is Kestrel Gate; call 4410 within 14 days."))
    assert "ケストレル" in extract_facts("社内VPNはケストレルです。")


def _scores(candidate, baseline, n=20):
    return {"candidate": {"paraphrase": {"fact_recall": candidate, "n": n}},
            "base": {"paraphrase": {"fact_recall": baseline, "n": n}}}


def test_gate_needs_the_margin_and_enough_items():
    cfg = EvalConfig(margin=0.05)
    assert decide(_scores(0.5, 0.1), "base", cfg).passed
    assert not decide(_scores(0.13, 0.1), "base", cfg).passed
    few = decide(_scores(0.9, 0.0, n=3), "base", cfg)
    assert not few.passed and "too few" in few.reasons[0]
