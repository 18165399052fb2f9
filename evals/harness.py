"""An eval: the candidate against production (the base model before any promotion) on the company
held-out sets through vLLM, general benchmarks by log-likelihood, divergence from base, human votes.

Every system's results are cached by immutable identity, so a gate after the first only runs the
candidate. Answers are generated concurrently so that vLLM batches them.
"""
from __future__ import annotations

import dataclasses
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from uchi import basemodel
from uchi.config import Config
from uchi.data import adapters, paraphrases, snapshot
from uchi.data.adapters import PRODUCTION, ensure_loaded, model_for
from uchi.data.retrieval import Retriever
from uchi.data.store import Store, now
from uchi.evals import cache, gate, general, heldout, judge, report, rewording
from uchi.evals.metrics import fact_recall, rouge_l
from uchi.evals.result import EvalResult
from uchi.modelclient import ModelClient
from uchi.prompt import STOP, messages, served, user_turn


def generate(client: ModelClient, model: str, questions: list[str], max_tokens: int, concurrency: int,
             contexts: list[list[tuple[str, str]]] | None = None) -> list[str]:
    contexts = contexts or [[] for _ in questions]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(lambda qc: client.chat(model, messages(qc[0], context=qc[1]), max_tokens),
                             zip(questions, contexts)))


def _mean(values: list[float]) -> float:
    return round(statistics.fmean(values), 4) if values else 0.0


def summarise(rows: list[dict]) -> dict:
    recalls = [r["fact_recall"] for r in rows if r["fact_recall"] is not None]
    return {"fact_recall": _mean(recalls), "rouge_l": _mean([r["rouge_l"] for r in rows]), "n": len(rows)}


def score(items: list[heldout.Item], answers: list[str]) -> list[dict]:
    return [{"set": i.set, "source": i.source, "pair_id": i.pair_id, "language": i.language,
             "category": i.category, "question": i.question, "reference": i.reference, "answer": a,
             "fact_recall": fact_recall(a, i.facts), "rouge_l": round(rouge_l(a, i.reference), 4)}
            for i, a in zip(items, answers)]


def breakdown(rows: list[dict]) -> dict:
    """Overall, per set, per set and language, per set and category, per set and source (and language)."""
    groups = {"all": rows}
    for row in rows:
        source = row.get("source", "pair")
        for key in (row["set"], f"{row['set']}/{row['language']}", f"{row['set']}#{row['category'] or '-'}",
                    f"{row['set']}@{source}", f"{row['set']}@{source}/{row['language']}"):
            groups.setdefault(key, []).append(row)
    out = {key: summarise(group) for key, group in groups.items()}
    for kind in heldout.SETS:
        for language in ("en", "ja"):
            out.setdefault(f"{kind}/{language}", summarise([]))
        out.setdefault(kind, summarise([]))
    return out


def system_id(cfg: Config, version: str | None) -> str:
    """What a cached result was produced by: an adapter version (named by its weights' hash) on this base
    model, or the base model alone, both named by the base checkpoint's content rather than its name."""
    base = f"base:{basemodel.fingerprint(basemodel.resolve(cfg))}"
    return f"{base}+adapter:{version}" if version else base


def company_answers(cfg: Config, store: Store, client: ModelClient, version: str | None,
                    items: list[heldout.Item], contexts: list[list[tuple[str, str]]] | None, log) -> list[dict]:
    """Answers of one system (a version, with or without retrieved context), cached by what was asked."""
    questions = [i.question for i in items]
    asked = [user_turn(q, c) for q, c in zip(questions, contexts or [None] * len(questions))]
    key = cache.key(system_id(cfg, version), "company", asked, {"max_tokens": cfg.model.max_new_tokens,
                                                                "stop": STOP})
    answers = cache.get(store, key)
    if answers is None:
        model = ensure_loaded(client, store, version) if version else model_for(cfg, None)
        started = time.monotonic()
        answers = generate(client, model, questions, cfg.model.max_new_tokens, cfg.eval.concurrency, contexts)
        log(f"  {model}{' + retrieval' if contexts else ''}: {len(items)} company questions in "
            f"{time.monotonic() - started:.0f}s")
        cache.put(store, key, system_id(cfg, version), "company", answers)
    rows = score(items, answers)
    for row, prompt in zip(rows, asked):
        row["prompt"] = prompt  # the exact user turn, so a promotion's smoke test can ask it again
    return rows


def retrieve(cfg: Config, store: Store, items: list[heldout.Item]) -> tuple[list[list[tuple[str, str]]],
                                                                           list[str | None], list[bool], dict]:
    """Context for each item (a held-out item never sees its own pair), the approved answer production would
    quote beside the model's (retrieval.quote), whether a paraphrase's own pair was retrieved first, and
    retrieval quality per language."""
    retriever = Retriever(cfg.retrieval)
    contexts, quotes, first, found = [], [], [], {}
    for item in items:
        hits = retriever.search(store, item.question, k=max(3, cfg.retrieval.k),
                                exclude=(item.pair_id,) if item.set == "heldout" else ())
        contexts.append([(h.question, h.answer) for h in hits[:cfg.retrieval.k]])
        quote = retriever.quoted(hits)
        quotes.append(quote.answer if quote else None)
        ids = [h.pair_id for h in hits]
        first.append(item.set == "paraphrase" and ids[:1] == [item.pair_id])
        if item.set == "paraphrase":
            found.setdefault(item.language, []).append((first[-1], item.pair_id in ids[:3]))
    quality = {language: {"n": len(v), "top1": round(sum(a for a, _ in v) / len(v), 3),
                          "top3": round(sum(b for _, b in v) / len(v), 3)} for language, v in found.items()}
    return contexts, quotes, first, quality


def add_served(rows: list[dict], items: list[heldout.Item], quotes: list[str | None]) -> None:
    """Each row's fact recall of what a person reads in production: the answer and the quoted approved answer."""
    for row, item, quoted in zip(rows, items, quotes):
        row["quoted"] = quoted is not None
        row["served_recall"] = fact_recall(served(row["answer"], quoted), item.facts) if quoted else row["fact_recall"]


def targets(cfg: Config, items: list[dict], alone: list[dict] | None, first: list[bool]) -> list[dict]:
    """Per language: the paraphrase recall of what production serves (the model's answer and any quoted approved
    answer) against its target, and where a shortfall comes from: recall when retrieval put the item's own pair
    first, when it did not, of the model's words alone, and of the adapter without retrieval."""
    goal = {"en": cfg.eval.recall_target_en, "ja": cfg.eval.recall_target_ja}
    out = []
    for language, target in goal.items():
        chosen = [(row, solo, hit) for row, solo, hit in zip(items, alone or [None] * len(items), first)
                  if row["set"] == "paraphrase" and row["language"] == language and row["fact_recall"] is not None]
        if not chosen:
            continue
        mean = lambda rows: round(statistics.fmean(rows), 3) if rows else None
        shown = lambda row: row.get("served_recall", row["fact_recall"])
        hit = [shown(row) for row, _, h in chosen if h]
        miss = [shown(row) for row, _, h in chosen if not h]
        recall = mean([shown(row) for row, _, _ in chosen])
        out.append({"language": language, "n": len(chosen), "target": target, "recall": recall,
                    "short_by": round(max(0.0, target - recall), 3), "right_pair_first": mean(hit), "n_first": len(hit),
                    "otherwise": mean(miss), "n_otherwise": len(miss),
                    "model_words": mean([row["fact_recall"] for row, _, _ in chosen]),
                    "quoted": mean([float(row.get("quoted", False)) for row, _, _ in chosen]),
                    "adapter_alone": mean([solo["fact_recall"] for _, solo, _ in chosen if solo])})
    return out


def _paired_recall(candidate: list[dict], reference: list[dict]) -> tuple[list[float], list[float], dict[str, int]]:
    """Paired paraphrase fact recall, and how many items each source and language gave ("generated/ja": 12)."""
    pairs = [(c["fact_recall"], r["fact_recall"], f"{c.get('source', 'pair')}/{c['language']}")
             for c, r in zip(candidate, reference) if c["set"] == "paraphrase" and c["fact_recall"] is not None]
    evidence: dict[str, int] = {}
    for _, _, label in pairs:
        evidence[label] = evidence.get(label, 0) + 1
    return [c for c, _, _ in pairs], [r for _, r, _ in pairs], evidence


def company_items(cfg: Config, store: Store, client: ModelClient, snapshot, base_path: Path, log) -> list[heldout.Item]:
    """The company items; generated rewordings join when human-written paraphrases are fewer than the gate
    needs (heldout.need), for the trained pairs that have none."""
    human = heldout.human_count(store, snapshot)
    if not cfg.eval.generate_rewordings or human >= heldout.need(cfg.eval):
        return heldout.build(store, snapshot, cfg.eval)
    covered = set(paraphrases.of(store, [p["id"] for p in snapshot.pairs]))
    bare = [p for p in snapshot.pairs if p["id"] not in covered][:2 * cfg.eval.max_items]
    if not bare:
        return heldout.build(store, snapshot, cfg.eval)
    log(f"eval: {human} human-written paraphrases, under the {heldout.need(cfg.eval)} the gate needs; rewording "
        f"{len(bare)} trained questions for evaluation")
    rewording.generate(cfg, store, client, bare, base_path, log)
    return heldout.build(store, snapshot, cfg.eval, rewording.still_apart(cfg, store, bare, base_path))


def evaluate(cfg: Config, store: Store, client: ModelClient, version: str, log=print, *,
             both_settings: bool = True) -> EvalResult:
    """Score the candidate against production and store the eval, its verdict and its report. `both_settings`
    also answers with the other retrieval setting, for the four-configuration table (it does not gate)."""
    adapter = adapters.get(store, version)
    base_path = basemodel.resolve(cfg)
    items = company_items(cfg, store, client, snapshot.load(store, adapter.snapshot), base_path, log)
    production = store.alias(PRODUCTION)
    systems = {"base": None, "candidate": version}
    if production and production != version:
        systems["production"] = production
    baseline = "production" if "production" in systems else "base"
    log(f"eval {version}: {len(items)} company items; baseline {baseline}")
    contexts, quotes, first, retrieval_quality = retrieve(cfg, store, items)
    served_contexts = contexts if cfg.retrieval.enabled else None
    other = None if cfg.retrieval.enabled else contexts
    per_item = {name: company_answers(cfg, store, client, v, items, served_contexts, log)
                for name, v in systems.items()}
    if cfg.retrieval.enabled:
        for name in systems:
            add_served(per_item[name], items, quotes)
    # The other retrieval setting, reported so that the four configurations stand side by side.
    for name in ("base", "candidate") if both_settings else ():
        per_item[f"{name}/alt"] = company_answers(cfg, store, client, systems[name], items, other, log)
    scores = {name: breakdown(rows) for name, rows in per_item.items()}
    alone = per_item.get("candidate/alt") if cfg.retrieval.enabled else per_item["candidate"]
    goals = targets(cfg, per_item["candidate"], alone, first)
    def scored_by(v):  # the running vLLM scores the benchmarks too, where eval.loglik says so
        if not general.through_vllm(cfg):
            return None
        return client, ensure_loaded(client, store, v) if v else model_for(cfg, None)

    general_scores = {
        name: general.score_system(cfg, store, system_id(cfg, v), base_path,
                                   Path(adapters.get(store, v).path) if v else None, log, scored_by(v))
        for name, v in systems.items() if name in (baseline, "candidate")}
    candidate_recall, baseline_recall, evidence = _paired_recall(per_item["candidate"], per_item[baseline])
    checks = [gate.company(candidate_recall, baseline_recall, cfg.eval, baseline, evidence)]
    for task, result in general_scores["candidate"].items():
        if task == general.DIVERGENCE_TASK:
            checks.append(gate.divergence(result["summary"]["mean_kl"], result["summary"]["n"], cfg.eval))
        else:
            checks += gate.general(task, result["rows"], general_scores[baseline][task]["rows"], cfg.eval)
    checks.append(gate.human(0, 0, 0, cfg.eval))
    verdict = gate.decide(checks)
    judged = {}
    if judge.enabled(cfg):
        for name in (baseline, "candidate"):
            grades = [g for g in judge.grade(cfg, per_item[name]) if g is not None]
            judged[name] = round(statistics.fmean(grades), 3) if grades else None
    metrics = {"scores": scores, "checks": verdict.to_json(), "judge": judged, "retrieval": retrieval_quality,
               "retrieval_served": cfg.retrieval.enabled, "targets": goals,
               "general": {name: {task: r["summary"] for task, r in result.items()}
                           for name, result in general_scores.items()}}
    eval_id = store.db["evals"].insert({
        "adapter_version": version, "production_version": production, "metrics": json.dumps(metrics),
        "passed": int(verdict.passed), "reasons": json.dumps(verdict.reasons, ensure_ascii=False),
        "report_path": "", "created_at": now()}).last_pk
    result = EvalResult(id=eval_id, version=version, production=production, baseline=baseline, scores=scores,
                        passed=verdict.passed, reasons=verdict.reasons, checks=verdict.to_json(),
                        general=metrics["general"], judge=judged, items=per_item, retrieval=retrieval_quality,
                        retrieval_served=cfg.retrieval.enabled, targets=goals, adapter=adapter)
    path = report.write(cfg, result)
    store.db["evals"].update(eval_id, {"report_path": str(path)})
    return dataclasses.replace(result, report_path=str(path))
