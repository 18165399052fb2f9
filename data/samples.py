"""Data shipped with uchi: sample companies for the demo, the tests and the benchmarks.

Each company is a handbook file the product imports as any company's would. A company may also ship a held-aside
evaluation file (its facts and a human-written paraphrase per pair) that the product never reads: only tests and
benchmarks do, to measure paraphrase fact recall on a handbook that arrived as nothing but `question,answer`.
"""
from __future__ import annotations

import importlib.resources
import json
from dataclasses import dataclass
from pathlib import Path

from uchi.errors import UchiError


@dataclass(frozen=True)
class Company:
    key: str
    name: str
    handbook: str  # under data/sample/
    evaluation: str | None = None  # held aside: never imported, never trained on
    about: str = ""


COMPANIES = {company.key: company for company in (
    Company("harbor-lantern", "Harbor Lantern Robotics", "company.jsonl",
            about="a robotics maker; 192 pairs, each with its facts and a paraphrase (the defaults were tuned here)"),
    # Written for issue 18 and never used to tune a default: the check that uchi works for a company nobody
    # prepared for, which brings only questions and answers.
    Company("aobato", "Aobato Provisions", "aobato.csv", evaluation="aobato_eval.jsonl",
            about="a regional food distributor; 169 pairs as a plain question,answer CSV"),
)}
DEFAULT = "harbor-lantern"


def _path(name: str) -> Path:
    return Path(str(importlib.resources.files("uchi.data") / "sample" / name))


def company(key: str = DEFAULT) -> Company:
    if key not in COMPANIES:
        raise UchiError(f"no sample company {key!r}; choose one of {', '.join(COMPANIES)}")
    return COMPANIES[key]


def handbook_file(key: str = DEFAULT) -> Path:
    return _path(company(key).handbook)


def evaluation_rows(key: str) -> list[dict]:
    """The held-aside evaluation of a sample company: per pair its question, answer, language, category, facts
    and one human-written paraphrase. For tests and benchmarks only."""
    chosen = company(key)
    if chosen.evaluation is None:
        raise UchiError(f"sample company {key!r} has no held-aside evaluation file")
    text = _path(chosen.evaluation).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def company_file() -> Path:
    """Harbor Lantern Robotics' handbook: invented Q&A pairs in English and Japanese, each with a paraphrase."""
    return handbook_file(DEFAULT)
