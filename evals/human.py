"""Human scores: thumbs-up rate per adapter version from Slack ratings, and blind side-by-side votes."""
from __future__ import annotations

import hashlib
import json

from uchi.config import Config
from uchi.data.store import Store, now
from uchi.errors import UchiError
from uchi.evals import gate, report, stats


def thumbs(store: Store, version: str | None, confidence: float = 0.95) -> dict:
    """Thumbs-up rate of the answers a version gave (None: the base model), with its Wilson interval."""
    row = store.one("SELECT SUM(r.value = 1) AS up, COUNT(*) AS n FROM ratings r JOIN answers a ON a.id = r.answer_id "
                    "WHERE a.adapter_version IS ?", [version])
    up, n = int(row["up"] or 0), int(row["n"])
    low, high = stats.wilson_interval(up, n, confidence)
    return {"version": version, "up": up, "n": n, "rate": up / n if n else None, "low": low, "high": high}


def _detail(store: Store, eval_id: int) -> dict:
    row = store.one("SELECT report_path FROM evals WHERE id = ?", [eval_id])
    if row is None:
        raise UchiError(f"no eval #{eval_id}")
    from pathlib import Path

    return json.loads(Path(row["report_path"]).with_suffix(".json").read_text(encoding="utf-8"))


def comparisons(store: Store, eval_id: int) -> list[dict]:
    """Questions where the two systems answered differently (identical answers teach a voter nothing)."""
    detail = _detail(store, eval_id)
    pairs = zip(detail["items"][detail["baseline"]], detail["items"]["candidate"])
    return [{"item": i, "question": ref["question"], "production": ref["answer"], "candidate": cand["answer"]}
            for i, (ref, cand) in enumerate(pairs) if ref["answer"].strip() != cand["answer"].strip()]


def candidate_is_left(eval_id: int, item: int, voter: str) -> bool:
    """The blind order, derived on the server each time: a button value cannot choose it."""
    return hashlib.sha256(f"{eval_id}:{item}:{voter}".encode()).digest()[0] % 2 == 0


def next_comparison(store: Store, eval_id: int, voter: str) -> dict | None:
    voted = {r["item"] for r in store.rows("SELECT item FROM sbs_votes WHERE eval_id = ? AND voter = ?",
                                           [eval_id, voter])}
    for comparison in comparisons(store, eval_id):
        if comparison["item"] not in voted:
            left_candidate = candidate_is_left(eval_id, comparison["item"], voter)
            first, second = ("candidate", "production") if left_candidate else ("production", "candidate")
            return {"eval_id": eval_id, "item": comparison["item"], "question": comparison["question"],
                    "left": comparison[first], "right": comparison[second]}
    return None


def record_vote(cfg: Config, store: Store, eval_id: int, item: int, voter: str, pick: str) -> dict:
    """pick is left, right or tie as the voter saw them; the gate is re-decided with the new count."""
    if pick not in ("left", "right", "tie"):
        raise UchiError(f"vote {pick!r}: choose left, right or tie")
    if item not in {c["item"] for c in comparisons(store, eval_id)}:
        raise UchiError(f"eval #{eval_id} has no side-by-side item {item}")
    left_candidate = candidate_is_left(eval_id, item, voter)
    choice = "tie" if pick == "tie" else ("candidate" if (pick == "left") == left_candidate else "production")
    store.db["sbs_votes"].upsert({"eval_id": eval_id, "item": item, "voter": voter, "choice": choice,
                                  "created_at": now()}, pk=("eval_id", "item", "voter"))
    return redecide(cfg, store, eval_id)


def votes(store: Store, eval_id: int) -> dict:
    counts = {r["choice"]: r["n"] for r in store.rows(
        "SELECT choice, COUNT(*) AS n FROM sbs_votes WHERE eval_id = ? GROUP BY choice", [eval_id])}
    return {k: counts.get(k, 0) for k in ("candidate", "production", "tie")}


def redecide(cfg: Config, store: Store, eval_id: int) -> dict:
    """Replace the eval's human check with the current votes and store the new verdict."""
    row = store.one("SELECT metrics FROM evals WHERE id = ?", [eval_id])
    metrics = json.loads(row["metrics"])
    count = votes(store, eval_id)
    checks = [gate.Check(**c) for c in metrics["checks"] if c["gate"] != "human"]
    checks.append(gate.human(count["candidate"], count["production"], count["tie"], cfg.eval))
    verdict = gate.decide(checks)
    metrics["checks"] = verdict.to_json()
    store.db["evals"].update(eval_id, {"metrics": json.dumps(metrics, ensure_ascii=False),
                                       "passed": int(verdict.passed),
                                       "reasons": json.dumps(verdict.reasons, ensure_ascii=False)})
    detail = _detail(store, eval_id)
    detail.update(checks=metrics["checks"], passed=verdict.passed, reasons=verdict.reasons,
                  adapter=store.adapter(detail["version"]))
    report.write(cfg, detail)
    return {"passed": verdict.passed, "reasons": verdict.reasons, "votes": count}
