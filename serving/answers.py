"""Answering a question with the production adapter, and logging the answer with its version."""
from __future__ import annotations

import time

from uchi.config import Config
from uchi.data.snapshot import messages
from uchi.data.store import Store, now
from uchi.serving.client import ModelClient
from uchi.serving.registry import PRODUCTION, ensure_loaded, model_for


def ask(cfg: Config, store: Store, client: ModelClient, question: str, *, asker: str = "",
        channel: str = "") -> dict:
    version = store.alias(PRODUCTION)
    model = ensure_loaded(client, store, version) if version else model_for(cfg, None)
    started = time.monotonic()
    text = client.chat(model, messages(question), cfg.model.max_new_tokens)
    latency_ms = round((time.monotonic() - started) * 1000, 1)
    row = {"question": question, "answer": text, "adapter_version": version, "served_model": model,
           "latency_ms": latency_ms, "asker": asker, "channel": channel, "created_at": now()}
    row["id"] = store.db["answers"].insert(row).last_pk
    return row
