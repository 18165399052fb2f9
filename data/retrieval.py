"""Retrieval over approved pairs: trigram full-text search (SQLite FTS5, bm25) fused with sentence
embeddings by weighted reciprocal rank, weights chosen by the query's language.

Measured on the sample company's paraphrased questions (192): trigrams alone rank the right pair
first for 52% (English) / 42% (Japanese); embeddings alone 90% / 37%; the fusion below 90% / 47%.
The trigram index follows the pairs table through triggers and embeddings are filled in lazily, so a
pair is retrievable the moment it is approved and gone the moment it is rejected or deleted.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uchi.config import RetrievalConfig
from uchi.data import embeddings
from uchi.data.store import Store
from uchi.data.text import detect_language, normalize

CANDIDATES = 20
MAX_GRAMS = 120
RRF_K = 60
# (dense, lexical) weights per query language, from the measurement above.
WEIGHTS = {"en": (1.0, 0.0), "ja": (0.5, 1.0)}


@dataclass
class Hit:
    pair_id: int
    question: str
    answer: str
    language: str
    score: float
    rank: int
    author: str
    reviewed_by: str | None
    reviewed_at: str | None


def trigrams(text: str) -> set[str]:
    text = normalize(text)
    return {text[i:i + 3] for i in range(len(text) - 2)
            if text[i:i + 3].strip() and any(c.isalnum() for c in text[i:i + 3])}


def _match_query(grams: set[str]) -> str:
    chosen = sorted(grams)
    if len(chosen) > MAX_GRAMS:
        step = len(chosen) / MAX_GRAMS
        chosen = [chosen[int(i * step)] for i in range(MAX_GRAMS)]
    return " OR ".join('"' + gram.replace('"', '""') + '"' for gram in chosen)


def lexical(store: Store, question: str, limit: int = CANDIDATES) -> list[int]:
    grams = trigrams(question)
    if not grams:
        return []
    rows = store.rows("SELECT p.id FROM pairs_index JOIN pairs p ON p.id = pairs_index.rowid "
                      "WHERE pairs_index MATCH ? AND p.status = 'approved' "
                      "ORDER BY bm25(pairs_index, 2.0, 1.0) LIMIT ?", [_match_query(grams), limit])
    return [row["id"] for row in rows]


class DenseIndex:
    """Approved pairs' embeddings held in memory; synced from the store before each search."""

    def __init__(self):
        self.ids = np.zeros(0, dtype=np.int64)
        self.matrix = np.zeros((0, 384), dtype=np.float32)
        self.stamp = None

    def sync(self, store: Store) -> None:
        stamp = store.one("SELECT COUNT(*) AS n, MAX(updated_at) AS t, MAX(id) AS m FROM pairs "
                          "WHERE status = 'approved'")
        if stamp == self.stamp:
            return
        missing = store.rows("SELECT p.id, p.question, p.answer FROM pairs p LEFT JOIN pair_embeddings e "
                             "ON e.pair_id = p.id AND e.model = ? WHERE p.status = 'approved' AND e.pair_id IS NULL",
                             [embeddings.MODEL])
        if missing:
            vectors = embeddings.encode([f"{r['question']} {r['answer']}" for r in missing])
            with store.transaction():
                store.db["pair_embeddings"].upsert_all(
                    [{"pair_id": r["id"], "model": embeddings.MODEL, "vector": v.tobytes()}
                     for r, v in zip(missing, vectors)], pk="pair_id")
        rows = store.rows("SELECT e.pair_id, e.vector FROM pair_embeddings e JOIN pairs p ON p.id = e.pair_id "
                          "WHERE p.status = 'approved' AND e.model = ? ORDER BY e.pair_id", [embeddings.MODEL])
        self.ids = np.array([r["pair_id"] for r in rows], dtype=np.int64)
        self.matrix = (np.frombuffer(b"".join(r["vector"] for r in rows), dtype=np.float32).reshape(len(rows), -1)
                       if rows else np.zeros((0, 384), dtype=np.float32))
        self.stamp = stamp

    def search(self, question: str, limit: int = CANDIDATES) -> tuple[list[int], dict[int, float]]:
        if not len(self.ids):
            return [], {}
        sims = self.matrix @ embeddings.encode([question])[0]
        # A partial sort: at 100k pairs a full argsort was 13 ms of a search, this ~1 ms.
        head = np.argpartition(-sims, limit)[:limit] if len(sims) > limit else np.arange(len(sims))
        top = head[np.argsort(-sims[head])]
        return [int(self.ids[i]) for i in top], {int(self.ids[i]): float(sims[i]) for i in top}


class Retriever:
    def __init__(self, cfg: RetrievalConfig):
        self.cfg = cfg
        self.dense = DenseIndex() if cfg.dense else None

    def search(self, store: Store, question: str, *, k: int | None = None, exclude: tuple[int, ...] = ()) -> list[Hit]:
        """The k approved pairs most relevant to the question, best first (none below the threshold)."""
        k = self.cfg.k if k is None else k
        language = detect_language(question)
        dense_weight, lexical_weight = WEIGHTS[language] if self.dense else (0.0, 1.0)
        fused: dict[int, float] = {}
        similarity: dict[int, float] = {}
        if self.dense and dense_weight:
            self.dense.sync(store)
            ranked, similarity = self.dense.search(question)
            for rank, pair_id in enumerate(ranked):
                fused[pair_id] = fused.get(pair_id, 0.0) + dense_weight / (RRF_K + rank + 1)
        if lexical_weight:
            for rank, pair_id in enumerate(lexical(store, question)):
                fused[pair_id] = fused.get(pair_id, 0.0) + lexical_weight / (RRF_K + rank + 1)
        order = [p for p in sorted(fused, key=lambda p: -fused[p]) if p not in exclude]
        if language == "en" and similarity:
            # Measured: right pairs score >= 0.46 for 90% of English paraphrases, off-topic questions
            # <= 0.41 for 90%; for Japanese this encoder cannot separate them, so no threshold there.
            order = [p for p in order if similarity.get(p, 0.0) >= self.cfg.min_similarity]
        return self._hits(store, order[:k], fused)

    @staticmethod
    def _hits(store: Store, ids: list[int], scores: dict[int, float]) -> list[Hit]:
        if not ids:
            return []
        rows = {r["id"]: r for r in store.rows(
            f"SELECT id, question, answer, language, author, reviewed_by, reviewed_at FROM pairs "
            f"WHERE id IN ({','.join('?' * len(ids))})", ids)}
        return [Hit(pair_id=i, question=rows[i]["question"], answer=rows[i]["answer"], language=rows[i]["language"],
                    score=round(scores[i], 5), rank=rank, author=rows[i]["author"],
                    reviewed_by=rows[i]["reviewed_by"], reviewed_at=rows[i]["reviewed_at"])
                for rank, i in enumerate(ids, start=1)]
