"""The gate: does the candidate know the company better than production, by the configured margin?"""
from __future__ import annotations

from dataclasses import dataclass, field

from uchi.config import EvalConfig

MIN_ITEMS = 5


@dataclass
class Verdict:
    passed: bool
    reasons: list[str] = field(default_factory=list)


def decide(scores: dict[str, dict], baseline: str, cfg: EvalConfig) -> Verdict:
    """scores[system][set] = {"fact_recall": mean, "n": items}; baseline is production, or base before any."""
    candidate = scores["candidate"]["paraphrase"]
    reference = scores[baseline]["paraphrase"]
    if candidate["n"] < MIN_ITEMS:
        return Verdict(False, [f"only {candidate['n']} paraphrase items (need {MIN_ITEMS}): too few to judge; "
                               "add paraphrased questions to approved pairs"])
    gain = candidate["fact_recall"] - reference["fact_recall"]
    line = (f"paraphrase fact recall {candidate['fact_recall']:.3f} vs {baseline} {reference['fact_recall']:.3f} "
            f"(gain {gain:+.3f}, margin {cfg.margin:.3f})")
    return Verdict(gain >= cfg.margin, [line])
