"""Lineage: why did uchi say that? answer -> adapter version -> training run -> dataset snapshot -> the
pairs and their authors, and the training pairs nearest to the question that was asked."""
from __future__ import annotations

import json
from collections import Counter

from uchi.data import adapters, dedup, runs
from uchi.data.store import Store
from uchi.errors import UchiError


def trace(store: Store, answer_id: int, *, nearest: int = 5) -> dict:
    answer = store.one("SELECT * FROM answers WHERE id = ?", [answer_id])
    if answer is None:
        latest = store.one("SELECT MAX(id) AS id FROM answers")["id"]
        raise UchiError(f"no answer #{answer_id}" + (f"; answers go up to #{latest}" if latest else
                                                     "; nothing has been answered yet (`uchi ask`)"))
    found = {"answer": answer, "adapter": None, "run": None, "snapshot": None, "pairs": [], "missing": [],
             "authors": {}, "nearest": [], "retrain_needed": []}
    if not answer["adapter_version"]:
        return found  # the base model answered: no uchi training data was involved
    adapter = adapters.get(store, answer["adapter_version"])
    snapshot = store.one("SELECT * FROM snapshots WHERE hash = ?", [adapter.snapshot])
    ids = json.loads(snapshot["pair_ids"])
    pairs = _pairs(store, ids)
    found |= {
        "adapter": adapter, "snapshot": snapshot, "pairs": pairs,
        "run": runs.get(store, adapter.run_id),
        "missing": _missing(store, [i for i in ids if i not in {p["id"] for p in pairs}]),
        "authors": dict(Counter(p["author"] for p in pairs).most_common()),
        "nearest": [{"similarity": n.similarity} | n.pair for n in dedup.nearest(pairs, answer["question"], nearest)
                    if n.similarity > 0],
        "retrain_needed": store.rows("SELECT d.id, d.target, d.actor, d.created_at FROM retrain_needed r "
                                     "JOIN deletions d ON d.id = r.deletion_id WHERE r.adapter_version = ? "
                                     "ORDER BY d.id", [adapter.version]),
    }
    return found


def _pairs(store: Store, ids: list[int]) -> list[dict]:
    rows = []
    for start in range(0, len(ids), 500):  # SQLite's limit on bound parameters
        chunk = ids[start:start + 500]
        rows += store.rows(f"SELECT id, question, answer, author, source, status, reviewed_by FROM pairs "
                           f"WHERE id IN ({','.join('?' * len(chunk))})", chunk)
    return sorted(rows, key=lambda p: p["id"])


def _missing(store: Store, ids: list[int]) -> list[dict]:
    """Trained pairs no longer stored: merged into another pair, or deleted by `uchi data forget`."""
    out = []
    for pair_id in ids:
        merged = store.one("SELECT pair_id FROM pair_merges WHERE merged_from = ?", [pair_id])
        out.append({"id": pair_id, "fate": f"merged into #{merged['pair_id']}" if merged else "deleted"})
    return out


def render(found: dict, *, every_pair: bool = False) -> str:
    answer = found["answer"]
    lines = [f"answer #{answer['id']} ({answer['created_at']}, asked by {answer['asker'] or '?'})",
             f"  Q: {answer['question']}", f"  A: {answer['answer']}"]
    if found["adapter"] is None:
        lines.append(f"  -> the base model ({answer['served_model']}) answered: no uchi training data was involved")
        return "\n".join(lines)
    adapter, run, snapshot = found["adapter"], found["run"], found["snapshot"]
    lines += [f"  -> adapter {adapter.version} (created {adapter.created_at}, base {adapter.base_model})",
              f"  -> run {run.id} ({run.status}, {run.started_at} - {run.finished_at or '?'})",
              f"  -> snapshot {snapshot['hash']}: {snapshot['n_pairs']} pairs",
              "  -> authors: " + ", ".join(f"{author} ({n})" for author, n in found["authors"].items())]
    for gone in found["missing"]:
        lines.append(f"     pair #{gone['id']}: {gone['fate']} since")
    for deletion in found["retrain_needed"]:
        lines.append(f"  !! needs retraining: deletion #{deletion['id']} ({deletion['target']}, by "
                     f"{deletion['actor']}, {deletion['created_at']}) removed data it was trained on")
    lines.append("nearest training pairs to the question:")
    lines += [_pair_line(p, p["similarity"]) for p in found["nearest"]]
    if every_pair:
        lines.append("every pair in the snapshot:")
        lines += [_pair_line(p) for p in found["pairs"]]
    return "\n".join(lines)


def _pair_line(pair: dict, similarity: float | None = None) -> str:
    score = f"{similarity:.2f} " if similarity is not None else ""
    return (f"  {score}#{pair['id']} by {pair['author']} (approved by {pair['reviewed_by'] or '?'}, {pair['source']}): "
            f"{pair['question']} -> {pair['answer']}")
