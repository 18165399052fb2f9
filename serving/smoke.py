"""The smoke test before a swap: the served version must answer a few of its eval prompts exactly as the
eval measured (greedy decoding). Different answers mean the server is not serving what was evaluated:
stale weights under the name, another base model, another chat template or generation length.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from uchi.config import Config
from uchi.data.store import Store
from uchi.errors import UchiError
from uchi.modelclient import ModelClient
from uchi.prompt import messages


class Mismatch(UchiError):
    """The served answers differ from the measured ones; the swap is refused."""


def measured(evaluation: dict, count: int) -> list[dict]:
    """`count` of the eval's candidate items, evenly spread over the set (so both languages are asked)."""
    path = Path(evaluation["report_path"]).with_suffix(".json")
    if not path.is_file():
        raise UchiError(f"the answers of eval {evaluation['id']} ({path}) are missing, so the smoke test has "
                        f"nothing to compare with; re-run `uchi eval run {evaluation['adapter_version']}`")
    items = [i for i in json.loads(path.read_text(encoding="utf-8"))["items"]["candidate"] if i["answer"]]
    step = max(1, len(items) // count) if count else 1
    return items[::step][:count]


def asked(item: dict) -> list[dict]:
    """The eval's exact user turn (with its retrieved context); evals before prompts were kept: the question."""
    return [{"role": "user", "content": item["prompt"]}] if "prompt" in item else messages(item["question"])


def _show(text: str) -> str:
    return json.dumps(text[:120], ensure_ascii=False)


def check(cfg: Config, store: Store, client: ModelClient, version: str, model: str,
          evaluation: dict | None) -> dict:
    """{"prompts": n, "matched": n} or Mismatch; nothing to compare (no eval, a forced promotion) is 0 prompts."""
    if evaluation is None:
        return {"prompts": 0, "matched": 0}
    items = measured(evaluation, cfg.serving.smoke_prompts)
    # Concurrent, like the eval, so that both are decoded in batches.
    with ThreadPoolExecutor(max_workers=len(items) or 1) as pool:
        served = list(pool.map(lambda i: client.chat(model, asked(i), cfg.model.max_new_tokens), items))
    wrong = [(i, s) for i, s in zip(items, served) if s != i["answer"]]
    if wrong:
        item, answer = wrong[0]
        raise Mismatch(f"smoke test failed for {version}: {len(wrong)} of {len(items)} eval prompts were answered "
                       f"differently than eval {evaluation['id']} measured, e.g. {_show(item['question'])}: "
                       f"served {_show(answer)}, measured {_show(item['answer'])}. Production is unchanged. "
                       "Check that vLLM serves the base model the eval used and that model.max_new_tokens is "
                       f"unchanged, or re-run `uchi eval run {version}`")
    return {"prompts": len(items), "matched": len(items)}
