from rouge_score import rouge_scorer

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


def test_company_gate_uses_the_interval_and_power():
    from uchi.evals import gate

    cfg = EvalConfig(margin=0.0, detectable_gain=0.15)
    reference = [0.0] * 60
    clear = gate.company([1.0] * 30 + [0.0] * 30, reference, cfg, "base")
    assert clear.passed and clear.low > 0
    faint = gate.company([1.0] * 2 + [0.0] * 58, reference, cfg, "base")
    assert not faint.passed and "must stay above" in faint.note
    # Too few items to detect the gain: people decide whether it is better, the numbers whether it is worse.
    few = gate.company([1.0, 0.0, 1.0, 1.0] + [1.0] * 6, [0.0, 0.0, 0.0, 0.0] + [1.0] * 6, cfg, "base")
    assert few.passed and few.note.startswith("underpowered for a gain (10 items") and "blind votes" in few.note
    lost_one = gate.company([1.0, 1.0, 1.0, 0.0] + [1.0] * 6, [0.0, 0.0, 0.0, 1.0] + [1.0] * 6, cfg, "base")
    assert not lost_one.passed and "too few items" in lost_one.note and lost_one.delta > 0
    no_change = gate.company([1.0, 0.0] * 5, [1.0, 0.0] * 5, cfg, "base")
    assert not no_change.passed and "gain over base +0.000" in no_change.note
    # Without people in the gate, an underpowered check cannot pass.
    unjudged = gate.company([1.0, 0.0, 1.0, 1.0] + [1.0] * 6, [0.0, 0.0, 0.0, 0.0] + [1.0] * 6,
                            EvalConfig(hard_gates=["company", "general"]), "base")
    assert not unjudged.passed and "too few items" in unjudged.note


def test_general_gate_is_non_inferiority_and_human_waits_for_votes():
    from uchi.evals import gate

    cfg = EvalConfig(noninferiority=0.1)
    same = [{"gold_logprob": -2.0 + i / 100, "correct": i % 2 == 0} for i in range(40)]
    worse = [{"gold_logprob": r["gold_logprob"] - 0.5, "correct": False} for r in same]
    logprob, accuracy = gate.general("piqa", same, same, cfg)
    assert logprob.passed and accuracy.hard is False
    logprob, _ = gate.general("piqa", worse, same, cfg)
    assert not logprob.passed and "piqa gold log-prob" in logprob.note
    waiting = gate.human(1, 0, 0, cfg)
    assert waiting.pending and not waiting.passed and "1 of 10 blind votes so far" in waiting.note
    assert gate.decide([accuracy, waiting]).state == "pending"  # nothing failed, the votes are still to come
    assert gate.decide([logprob, waiting]).state == "failed"  # a failure needs no votes to be final
    assert not gate.human(1, 12, 0, cfg).passed and not gate.human(1, 12, 0, cfg).pending
    assert gate.human(4, 5, 1, cfg).passed  # 4.5 of 10: not significantly below half
    verdict = gate.decide([logprob, gate.human(1, 12, 0, cfg)])
    assert not verdict.passed and verdict.state == "failed" and len(verdict.reasons) == 2


def test_recall_targets_say_how_far_off_and_whether_retrieval_or_the_model_falls_short():
    from types import SimpleNamespace

    from uchi.evals.harness import targets
    from uchi.evals.report import target_rows

    cfg = SimpleNamespace(eval=EvalConfig(recall_target_en=0.8, recall_target_ja=0.6))
    row = lambda language, recall, kind="paraphrase": {"set": kind, "language": language, "fact_recall": recall}
    served = [row("en", 1.0), row("en", 1.0), row("en", 0.0), row("ja", 1.0), row("ja", 0.0), row("ja", 0.0),
              row("ja", 1.0, "heldout")]
    alone = [row("en", 0.0), row("en", 1.0), row("en", 0.0), row("ja", 0.0), row("ja", 0.0), row("ja", 0.0),
             row("ja", 0.0, "heldout")]
    first = [True, True, False, True, False, False, False]
    en, ja = targets(cfg, served, alone, first)
    assert (en["recall"], en["short_by"], en["right_pair_first"], en["otherwise"]) == (0.667, 0.133, 1.0, 0.0)
    assert (ja["n"], ja["recall"], ja["short_by"], ja["n_first"], ja["adapter_alone"]) == (3, 0.333, 0.267, 1, 0.0)
    rows = target_rows(SimpleNamespace(targets=[en, ja]))
    assert rows[1][:5] == ["ja", "3", "0.600", "0.333", "0.267"] and rows[1][5] == "1.000 (n=1)"
    # A quoted approved answer counts in what production serves, not in the model's words
    served[2] |= {"served_recall": 1.0, "quoted": True}
    en, _ = targets(cfg, served, alone, first)
    assert (en["recall"], en["model_words"], en["otherwise"], en["quoted"]) == (1.0, 0.667, 1.0, 0.333)
