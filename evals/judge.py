"""Optional LLM-as-judge through any OpenAI-compatible endpoint (config eval.judge_url/judge_model,
key in $JUDGE_API_KEY). Reported only: a judge grades, the gate's hard checks decide."""
from __future__ import annotations

import os
import re

from uchi.config import Config
from uchi.modelclient import ModelClient

PROMPT = ("You grade answers of a company assistant. Question: {question}\nReference answer: {reference}\n"
          "Assistant's answer: {answer}\nDoes the assistant's answer state the same facts as the reference? "
          "Reply with one digit from 1 (wrong or missing) to 5 (fully correct).")


def enabled(cfg: Config) -> bool:
    return bool(cfg.eval.judge_url and cfg.eval.judge_model)


def grade(cfg: Config, rows: list[dict]) -> list[int | None]:
    client = ModelClient(cfg.eval.judge_url, cfg.serving.request_timeout_s,
                         api_key=os.environ.get("JUDGE_API_KEY"))
    grades = []
    for row in rows:
        reply = client.chat(cfg.eval.judge_model, [{"role": "user", "content": PROMPT.format(**row)}], 4)
        found = re.search(r"[1-5]", reply)
        grades.append(int(found.group()) if found else None)
    return grades
