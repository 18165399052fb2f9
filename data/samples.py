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


# Handbook-shaped text for load tests and benchmarks: many questions share their content words ("expense
# report", "経費精算"), as a real company handbook's do, which is what makes near-duplicate search hard.
_EN_ASK = ["How do I {v} the {o} for the {d} team?", "Who can {v} a {o} in the {d} office?",
           "Where do I {v} my {o} as part of {d}?", "When should the {d} group {v} the {o}?",
           "What is the process to {v} an {o} for {d}?", "Can I {v} the {o} without {d} approval?"]
_EN_VERBS = ["request", "renew", "cancel", "approve", "submit", "book", "return", "update", "report", "transfer",
             "reset", "order", "extend", "register", "archive", "share", "replace", "claim", "print", "audit"]
_EN_OBJECTS = ["expense report", "travel advance", "laptop", "parking permit", "badge", "VPN token", "meeting room",
               "training budget", "purchase order", "software licence", "desk phone", "visitor pass",
               "overtime sheet", "holiday request", "company card", "shipping label", "safety goggles",
               "lab access", "test drone", "cloud account", "invoice", "contract draft", "press release",
               "sample kit", "forklift slot", "locker", "monitor", "headset", "server rack", "print quota"]
_EN_TEAMS = ["finance", "sales", "hardware", "firmware", "legal", "marketing", "logistics", "quality", "research",
             "support", "security", "facilities", "procurement", "design", "payroll", "warehouse", "robotics",
             "operations", "recruiting", "compliance"]
_JA_ASK = ["{d}の{o}を{v}するにはどうすればいいですか？", "{d}で{o}の{v}は誰に頼めばいいですか？",
           "{o}を{v}する時、{d}の承認は必要ですか？", "{d}部門の{o}の{v}の締め切りはいつですか？"]
_JA_VERBS = ["申請", "更新", "取消", "承認", "提出", "予約", "返却", "変更", "報告", "移管", "発注", "延長", "登録", "共有"]
_JA_OBJECTS = ["経費精算", "出張仮払い", "ノートパソコン", "駐車許可証", "社員証", "会議室", "研修予算", "購買発注",
               "ソフトウェアライセンス", "来客証", "残業申請", "休暇申請", "法人カード", "検査用ドローン", "ロッカー",
               "請求書", "契約書", "見本キット", "ヘッドセット", "印刷枠"]
_JA_TEAMS = ["経理", "営業", "法務", "品質保証", "研究開発", "総務", "物流", "人事", "購買", "設計", "製造", "広報"]
_PEOPLE = ["Ilse Varga", "Mika Tanabe-Ruiz", "Omar Lindqvist", "Rei Okada", "Dana Whitcombe", "Kenji Moreau"]
_SYSTEMS = ["Beacon Desk", "Ledgerline", "Portside", "Tidewire", "Kumo Forms", "Harbor Hub"]


def handbook_pairs(n: int, seed: int = 0, ja_share: float = 0.3) -> list[dict]:
    """n distinct handbook-like pairs (question, answer, language), English and Japanese, reproducible."""
    import random

    rng = random.Random(seed)
    seen: set[str] = set()
    rows = []
    while len(rows) < n:
        ja = rng.random() < ja_share
        if ja:
            question = rng.choice(_JA_ASK).format(v=rng.choice(_JA_VERBS), o=rng.choice(_JA_OBJECTS),
                                                  d=rng.choice(_JA_TEAMS))
        else:
            question = rng.choice(_EN_ASK).format(v=rng.choice(_EN_VERBS), o=rng.choice(_EN_OBJECTS),
                                                  d=rng.choice(_EN_TEAMS))
        if len(rows) % 3 == 0:  # some questions name a place by number, as handbooks do
            question = question.rstrip("?？") + (f"（{rng.randrange(1, 400)}号棟）？" if ja else
                                                 f" in building {rng.randrange(1, 400)}?")
        if question in seen:
            continue
        seen.add(question)
        person, system, days = rng.choice(_PEOPLE), rng.choice(_SYSTEMS), rng.randrange(1, 30)
        answer = (f"{system}で申請し、{person}さんが{days}日以内に対応します。" if ja else
                  f"Use {system}; {person} handles it within {days} working days.")
        rows.append({"question": question, "answer": answer, "language": "ja" if ja else "en"})
    return rows
