"""The gate: paired comparisons on identical items, decided on interval bounds, with the policy in config.

Each check says what it measured, on how many items, the interval, and whether it is a hard gate;
the verdict passes only when every hard check passes. Too few items is a failure that says so; no company
items at all is "insufficient evidence", never a pass. A check that waits for evidence still to come (the
human check before `min_votes` votes) is pending: the verdict is then pending too, unless another hard
check already failed.
"""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field

from uchi.config import EvalConfig
from uchi.evals import stats


@dataclass
class Check:
    gate: str
    metric: str
    n: int
    candidate: float | None
    reference: float | None
    delta: float | None
    low: float | None
    high: float | None
    passed: bool
    hard: bool
    note: str = ""
    pending: bool = False  # no evidence yet: neither passed nor failed


@dataclass
class Verdict:
    passed: bool
    checks: list[Check] = field(default_factory=list)

    @property
    def state(self) -> str:
        """passed, failed, or pending (no hard check failed, one still waits for evidence)."""
        return state(self.checks)

    @property
    def reasons(self) -> list[str]:
        failing = [c for c in self.checks if c.hard and not c.passed]
        return [f"{c.gate}: {c.note}" for c in failing] or ["every hard gate passed"]

    def to_json(self) -> list[dict]:
        return [asdict(c) for c in self.checks]


def evidence_line(evidence: dict[str, int]) -> str:
    """"employee en 3, generated ja 12": the items behind the company check, by source and language."""
    order = {source: i for i, source in enumerate(("employee", "reviewer", "import", "generated", "pair"))}
    keys = sorted(evidence, key=lambda k: (order.get(k.split("/")[0], 9), k))
    return ", ".join(f"{k.replace('/', ' ')} {evidence[k]}" for k in keys) or "none"


def company(candidate: list[float], reference: list[float], cfg: EvalConfig, baseline: str,
            evidence: dict[str, int] | None = None) -> Check:
    """Paraphrase fact recall must improve: the lower bound of the paired gain must exceed the margin. With
    too few items to detect eval.detectable_gain, and the human check a hard gate, a positive gain whose
    lower bound stays above -eval.company_noninferiority passes instead (and says so).

    The note states the evidence (items per source and language) and the power: the smallest gain this many
    items can detect. Fewer than two items is "insufficient evidence", which never passes, hard gate or not.
    """
    n, hard = len(candidate), "company" in cfg.hard_gates
    used = f"items: {evidence_line(evidence or {})}"
    if n < 2:
        return Check("company", "paraphrase fact recall", n, None, None, None, None, None, False, hard,
                     f"insufficient evidence: {n} paraphrased questions ({used}); add other ways to ask approved "
                     "pairs (import column `paraphrases`, the review form, employees' questions via "
                     "`uchi data paraphrases`) or keep eval.generate_rewordings on")
    diff = stats.paired_bootstrap(candidate, reference, confidence=cfg.confidence, seed=cfg.seed)
    sd = statistics.stdev([c - r for c, r in zip(candidate, reference)])
    needed = stats.items_needed(cfg.detectable_gain, sd, confidence=cfg.confidence) if sd > 0 else 2
    smallest = stats.detectable_gain(n, sd, confidence=cfg.confidence) if sd > 0 else 0.0
    power = f"at n={n} the smallest gain detectable with 80% power is {smallest:.2f} ({used})"
    check = Check("company", "paraphrase fact recall", n, statistics.fmean(candidate), statistics.fmean(reference),
                  diff.delta, diff.low, diff.high, diff.low > cfg.margin, hard,
                  f"gain over {baseline} {diff.delta:+.3f}, interval [{diff.low:+.3f}, {diff.high:+.3f}] must stay "
                  f"above {cfg.margin:+.3f}; {power}")
    if check.passed or n >= needed:
        return check
    if "human" in cfg.hard_gates and diff.delta > 0 and diff.low >= -cfg.company_noninferiority:
        # A company's first few dozen pairs cannot show a gain significantly (a 40-pair handbook gives ~10-40
        # items, where detecting +0.15 takes ~200): then the numbers only have to show the candidate gains
        # on what was measured and is not worse, and whether it is better is the blind votes' to say.
        check.passed = True
        check.note = (f"underpowered for a gain ({n} items, {needed} needed to detect {cfg.detectable_gain}; "
                      f"{power}): decided as non-inferiority, gain over {baseline} {diff.delta:+.3f} > 0 with "
                      f"interval [{diff.low:+.3f}, {diff.high:+.3f}] above {-cfg.company_noninferiority:+.3f}; "
                      "the human check's blind votes decide whether it is better")
        return check
    # Inconclusive for want of items is not the same finding as "no gain".
    check.note = (f"too few items: {n}, need {needed} to detect a gain of {cfg.detectable_gain} with 80% power; "
                  f"{power}; gain over {baseline} {diff.delta:+.3f}, interval [{diff.low:+.3f}, {diff.high:+.3f}]"
                  + (f" (non-inferiority needs a positive gain and a lower bound above "
                     f"{-cfg.company_noninferiority:+.3f}, with the human check as a hard gate)"
                     if cfg.company_noninferiority else "")
                  + "; add paraphrased questions or raise eval.max_items")
    return check


def general(task: str, candidate: list[dict], reference: list[dict], cfg: EvalConfig) -> list[Check]:
    """Gold log-prob must be non-inferior (lower bound >= -δ); accuracy change is reported with McNemar."""
    hard = "general" in cfg.hard_gates
    cand, ref = [r["gold_logprob"] for r in candidate], [r["gold_logprob"] for r in reference]
    diff = stats.paired_bootstrap(cand, ref, confidence=cfg.confidence, seed=cfg.seed)
    logprob = Check("general", f"{task} gold log-prob", len(cand), statistics.fmean(cand), statistics.fmean(ref),
                    diff.delta, diff.low, diff.high, diff.low >= -cfg.noninferiority, hard,
                    f"{task} gold log-prob change {diff.delta:+.3f}, lower bound {diff.low:+.3f} must stay above "
                    f"{-cfg.noninferiority:+.3f}")
    test = stats.mcnemar([r["correct"] for r in candidate], [r["correct"] for r in reference])
    acc_c = sum(r["correct"] for r in candidate) / len(candidate)
    acc_r = sum(r["correct"] for r in reference) / len(reference)
    accuracy = Check("general", f"{task} accuracy", len(candidate), acc_c, acc_r, acc_c - acc_r, None, None, True,
                     False, f"McNemar p={test['p']:.3f} ({test['gained']} gained, {test['lost']} lost)")
    return [logprob, accuracy]


def divergence(mean_kl: float, n: int, cfg: EvalConfig) -> Check:
    return Check("divergence", "KL from base on general prompts", n, mean_kl, 0.0, mean_kl, None, None,
                 mean_kl <= cfg.max_kl, "divergence" in cfg.hard_gates,
                 f"mean KL {mean_kl:.3f} nats/token (limit {cfg.max_kl})")


def human(wins: int, losses: int, ties: int, cfg: EvalConfig) -> Check:
    """Blind side-by-side: ties count half. Before min_votes votes exist the check is pending: it neither
    passes (nobody has judged) nor fails (nobody has objected)."""
    n = wins + losses + ties
    hard = "human" in cfg.hard_gates
    if n < cfg.min_votes:
        return Check("human", "side-by-side win rate", n, None, 0.5, None, None, None, False, hard,
                     f"pending: {n} of {cfg.min_votes} blind votes so far", pending=True)
    rate = (wins + ties / 2) / n
    low, high = stats.wilson_interval(round(wins + ties / 2), n, cfg.confidence)
    return Check("human", "side-by-side win rate", n, rate, 0.5, rate - 0.5, low, high, high >= 0.5, hard,
                 f"win rate {rate:.2f} [{low:.2f}, {high:.2f}] must not be significantly below 0.50")


def canary(version: str, counts: dict, p: float, canary_id: int, hard: bool) -> Check:
    """A canary that ended without rollback: its thumbs stand in for the blind votes (the rule already
    held the candidate's thumbs-down rate to not significantly worse than production's)."""
    cand, prod = counts["candidate"], counts["production"]
    rate = 1 - cand["down"] / cand["n"]
    return Check("human", "canary thumbs-up rate", cand["n"], rate,
                 1 - prod["down"] / prod["n"] if prod["n"] else None, None, None, None, True, hard,
                 f"canary #{canary_id} of {version}: thumbs-down {cand['down']}/{cand['n']} vs {prod['down']}/"
                 f"{prod['n']} for production, not significantly worse (one-sided p = {p:.3f})")


def state(checks: list[Check]) -> str:
    hard = [c for c in checks if c.hard]
    if any(not c.passed and not c.pending for c in hard):
        return "failed"
    return "pending" if any(c.pending for c in hard) else "passed"


def stored_state(checks: list[dict]) -> str:
    """The state of checks as stored (eval metrics, report JSON)."""
    return state([Check(**c) for c in checks])


def decide(checks: list[Check]) -> Verdict:
    return Verdict(all(c.passed for c in checks if c.hard), checks)
