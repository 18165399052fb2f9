"""Text the base model writes once for training (replay answers, question phrasings), cached in the store.

Greedy decoding, so the cache holds what the base model would say and the same inputs give the same data.
In-process generation uses transformers in length-sorted batches; when vLLM serves the base model
(train.generator = "vllm", or "auto" and reachable) the server writes it instead, faster on a GPU node.
"""
from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlite_utils
import torch

from uchi.config import Config
from uchi.data.store import Store, now
from uchi.errors import UchiError

BATCH = 32
GENERATIONS_TABLE = """CREATE TABLE IF NOT EXISTS generations (key TEXT PRIMARY KEY, kind TEXT NOT NULL,
    model TEXT NOT NULL, prompt TEXT NOT NULL, output TEXT NOT NULL, backend TEXT NOT NULL, created_at TEXT NOT NULL)"""
_SENTENCE_END = re.compile(r"[.!?。！？)）」』`]\s*")


def model_id(cfg: Config, base_path: Path) -> str:
    """The base model's name plus a hash of its config, so a changed checkpoint under one name misses the cache."""
    digest = hashlib.sha256((Path(base_path) / "config.json").read_bytes()).hexdigest()[:12]
    return f"{cfg.model.base}@{digest}"


def key(model: str, kind: str, prompt: str, max_new_tokens: int) -> str:
    body = json.dumps([model, kind, prompt, max_new_tokens], ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def complete_sentences(text: str) -> str:
    """An answer cut off by the token limit, trimmed back to its last full sentence ("" when there is none)."""
    text = text.strip()
    ends = list(_SENTENCE_END.finditer(text))
    return text[:ends[-1].end()].strip() if ends else ""


class LocalGenerator:
    """Greedy batched generation with an already loaded transformers model (the trainer's own base)."""

    backend = "transformers"

    def __init__(self, model, tokenizer):
        self.model, self.tokenizer = model, tokenizer

    @torch.no_grad()
    def __call__(self, conversations: list[list[dict]], max_new_tokens: int) -> list[str]:
        tok = self.tokenizer
        texts = [tok.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in conversations]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        outputs: list[str] = [""] * len(texts)
        side, tok.padding_side = tok.padding_side, "left"
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        try:
            for start in range(0, len(order), BATCH):
                chunk = order[start:start + BATCH]
                inputs = tok([texts[i] for i in chunk], return_tensors="pt", padding=True,
                             add_special_tokens=False).to(self.model.device)
                out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                          pad_token_id=pad)
                for row, i in enumerate(chunk):
                    new = out[row, inputs["input_ids"].shape[1]:]
                    finished = bool((new == tok.eos_token_id).any())
                    text = tok.decode(new, skip_special_tokens=True).strip()
                    outputs[i] = text if finished else complete_sentences(text)
        finally:
            tok.padding_side = side
        return outputs


class ServerGenerator:
    """The same, through vLLM's OpenAI-compatible API (cfg.serving.url), which batches concurrent requests."""

    backend = "vllm"

    def __init__(self, client, model: str, concurrency: int = 16):
        self.client, self.model, self.concurrency = client, model, concurrency

    def __call__(self, conversations: list[list[dict]], max_new_tokens: int) -> list[str]:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            texts = list(pool.map(lambda c: self.client.chat(self.model, c, max_new_tokens), conversations))
        # The API's text does not say whether the limit cut it; trimming a finished answer costs nothing.
        return [complete_sentences(t) if t and t[-1] not in ".!?。！？)）」』`" else t for t in texts]


def server_generator(cfg: Config):
    """A ServerGenerator when train.generator allows it and vLLM serves the base model now, else None."""
    if cfg.train.generator == "transformers":
        return None
    from uchi.modelclient import ModelClient

    client = ModelClient(cfg.serving.url, cfg.serving.request_timeout_s)
    reachable = client.healthy() and cfg.model.served_name in client.models()
    if reachable:
        return ServerGenerator(client, cfg.model.served_name, cfg.eval.concurrency)
    if cfg.train.generator == "vllm":
        raise UchiError(f"train.generator = \"vllm\" but {cfg.serving.url} does not serve {cfg.model.served_name!r}; "
                        "start it with `uchi serve` or set train.generator = \"auto\"")
    return None


class Cache:
    """Generations of one base model, in the store's `generations` table or train.generation_cache's."""

    def __init__(self, db, model: str):
        self.db, self.model = db, model
        self.seconds = 0.0
        self.generated = 0

    @classmethod
    def open(cls, cfg: Config, store: Store, model: str) -> "Cache":
        if not cfg.train.generation_cache:
            return cls(store.db, model)
        path = Path(cfg.train.generation_cache).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite_utils.Database(sqlite3.connect(path, timeout=60, check_same_thread=False))
        db.execute("PRAGMA busy_timeout = 60000")
        db.enable_wal()
        # The same table as migration 0004, for a cache file that lives outside any store.
        db.execute(GENERATIONS_TABLE)
        return cls(db, model)

    def get(self, kind: str, prompts: list[str], max_new_tokens: int) -> dict[str, str]:
        keys = {key(self.model, kind, p, max_new_tokens): p for p in prompts}
        found = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys)[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.query(f"SELECT key, output FROM generations WHERE key IN ({marks})", chunk):
                found[keys[row["key"]]] = row["output"]
        return found

    def fill(self, kind: str, requests: dict[str, list[dict]], max_new_tokens: int, make_generator) -> dict[str, str]:
        """Outputs for every prompt in requests (prompt -> chat messages); only the missing ones are generated."""
        found = self.get(kind, list(requests), max_new_tokens)
        missing = [p for p in requests if p not in found]
        if missing:
            generator = make_generator()
            started = time.monotonic()
            outputs = generator([requests[p] for p in missing], max_new_tokens)
            self.seconds += time.monotonic() - started
            self.generated += len(missing)
            with self.db.atomic():
                for prompt, output in zip(missing, outputs):
                    self.db["generations"].insert({
                        "key": key(self.model, kind, prompt, max_new_tokens), "kind": kind, "model": self.model,
                        "prompt": prompt, "output": output, "backend": generator.backend, "created_at": now()},
                        replace=True)
                    found[prompt] = output
        return found
