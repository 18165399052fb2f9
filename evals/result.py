"""An eval's result as it crosses folders: the harness makes it, the report renders it, the orchestration and
the bot post it. Nothing heavy is imported here: the bot's process reads it without torch."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from uchi.data.adapters import Adapter

# Kept out of `<report>.json`: the adapter is the registry's (read again by version), and the report's own path
# is known only once the report is written.
_NOT_IN_JSON = ("adapter", "report_path", "human")


@dataclass(frozen=True)
class EvalResult:
    id: int
    version: str
    production: str | None  # the production version it was compared with; None: the base model served
    baseline: str  # which system the gate compared against: "production" or "base"
    scores: dict  # system -> score key (e.g. "paraphrase/ja") -> {"fact_recall", "rouge_l", "n"}
    passed: bool
    reasons: list[str]
    checks: list[dict]  # gate.Check rows, as gate.Verdict.to_json writes them
    general: dict = field(default_factory=dict)  # system -> benchmark -> summary
    judge: dict = field(default_factory=dict)  # system -> mean LLM-judge grade, when eval.judge is on
    items: dict = field(default_factory=dict)  # system -> the per-item rows (question, answer, scores)
    retrieval: dict = field(default_factory=dict)  # language -> retrieval quality
    retrieval_served: bool = True
    targets: list[dict] = field(default_factory=list)
    adapter: Adapter | None = None
    report_path: str = ""
    # The evidence that decided the human check, once votes or a canary re-decided it (evals.human).
    human: dict | None = None

    def to_json(self) -> dict:
        """What `<report>.json` holds (evals.human and serving's smoke test read it back)."""
        detail = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in _NOT_IN_JSON}
        return detail | ({"human": self.human} if self.human is not None else {})

    @classmethod
    def from_json(cls, detail: dict, adapter: Adapter) -> EvalResult:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in detail.items() if key in known}, adapter=adapter)
