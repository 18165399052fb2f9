"""An eval: base, production and candidate answer the held-out sets through vLLM; the gate decides.

Answers are generated concurrently so vLLM batches them.
"""
from __future__ import annotations

import json
import statistics
from concurrent.futures import ThreadPoolExecutor

from uchi.config import Config
from uchi.data import snapshot as snapshots
from uchi.data.store import Store, now
from uchi.evals import gate, heldout, report
from uchi.evals.metrics import fact_recall, rouge_l
from uchi.serving.client import ModelClient
from uchi.serving.registry import PRODUCTION, ensure_loaded, model_for


def generate(client: ModelClient, model: str, questions: list[str], max_tokens: int, concurrency: int) -> list[str]:
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(lambda q: client.chat(model, snapshots.messages(q), max_tokens), questions))


def _mean(values: list[float]) -> float:
    return round(statistics.fmean(values), 4) if values else 0.0


def summarise(rows: list[dict]) -> dict:
    recalls = [r["fact_recall"] for r in rows if r["fact_recall"] is not None]
    return {"fact_recall": _mean(recalls), "rouge_l": _mean([r["rouge_l"] for r in rows]), "n": len(rows)}


def score(items: list[heldout.Item], answers: list[str]) -> list[dict]:
    return [{"set": i.set, "pair_id": i.pair_id, "language": i.language, "category": i.category,
             "question": i.question, "reference": i.reference, "answer": a,
             "fact_recall": fact_recall(a, i.facts), "rouge_l": round(rouge_l(a, i.reference), 4)}
            for i, a in zip(items, answers)]


def evaluate(cfg: Config, store: Store, client: ModelClient, version: str, log=print) -> dict:
    """Score the candidate against production (or the base model before any promotion) and store the eval."""
    adapter = store.adapter(version)
    items = heldout.build(store, snapshots.load(store, adapter["snapshot"]), cfg.eval)
    production = store.alias(PRODUCTION)
    systems = {"base": None, "candidate": version}
    if production and production != version:
        systems["production"] = production
    baseline = "production" if "production" in systems else "base"
    per_item, scores = {}, {}
    for system, system_version in systems.items():
        model = ensure_loaded(client, store, system_version) if system_version else model_for(cfg, None)
        log(f"eval {version}: {system} ({model}) answers {len(items)} items")
        answers = generate(client, model, [i.question for i in items], cfg.model.max_new_tokens,
                           cfg.eval.concurrency)
        per_item[system] = score(items, answers)
        scores[system] = {"all": summarise(per_item[system])}
        for kind in heldout.SETS:
            scores[system][kind] = summarise([r for r in per_item[system] if r["set"] == kind])
            for language in ("en", "ja"):
                rows = [r for r in per_item[system] if r["set"] == kind and r["language"] == language]
                scores[system][f"{kind}/{language}"] = summarise(rows)
    verdict = gate.decide(scores, baseline, cfg.eval)
    eval_id = store.db["evals"].insert({
        "adapter_version": version, "production_version": production, "metrics": json.dumps(scores),
        "passed": int(verdict.passed), "reasons": json.dumps(verdict.reasons, ensure_ascii=False),
        "report_path": "", "created_at": now()}).last_pk
    result = {"id": eval_id, "version": version, "production": production, "baseline": baseline,
              "scores": scores, "passed": verdict.passed, "reasons": verdict.reasons, "items": per_item,
              "adapter": adapter}
    path = report.write(cfg, result)
    store.db["evals"].update(eval_id, {"report_path": str(path)})
    result["report_path"] = str(path)
    return result
