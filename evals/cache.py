"""Scores of immutable systems (the base model, an adapter version) on frozen items, kept for later gates."""
from __future__ import annotations

import hashlib
import json

from uchi.data.store import Store, now

# Bump when scoring changes, so old cached results are not mixed with new ones.
SCORING_VERSION = 1


def key(system: str, task: str, item_ids: list[str], settings: dict) -> str:
    body = json.dumps([SCORING_VERSION, system, task, item_ids, settings], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def get(store: Store, cache_key: str):
    row = store.one("SELECT result FROM eval_cache WHERE key = ?", [cache_key])
    return json.loads(row["result"]) if row else None


def put(store: Store, cache_key: str, system: str, task: str, result) -> None:
    store.db["eval_cache"].upsert({"key": cache_key, "system": system, "task": task,
                                   "result": json.dumps(result, ensure_ascii=False), "created_at": now()}, pk="key")
