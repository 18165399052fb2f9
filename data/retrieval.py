"""Retrieval over approved pairs: multilingual sentence embeddings (e5-small), with trigram full-text search
(SQLite FTS5, bm25) when the embeddings are off, fused by weighted reciprocal rank per query language.

Measured on the sample company's paraphrased questions (192; benchmarks/retrieval_quality.py): e5 alone
ranks the right pair first for 0.85 (English) / 0.91 (Japanese); trigrams alone 0.52 / 0.42; e5 fused with
trigrams 0.76 / 0.64; the MiniLM fusion it replaced 0.89 / 0.47. The trigram index follows the pairs table
through triggers and embeddings are filled in lazily, so a pair is retrievable the moment it is approved and
gone the moment it is rejected or deleted.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uchi.config import RetrievalConfig
from uchi.data import embeddings
from uchi.data.store import Store
from uchi.data.text import normalize
from uchi.language import detect_language

CANDIDATES = 20
MAX_GRAMS = 120
# Postings one lexical query may read: 500 kept the sample company's top-1/top-3 and brought the p95 of a
# search at 100k pairs to ~19-20 ms (1,000: 21.9 ms, 2,000: 23.5 ms; docs/measurements.md).
MAX_POSTINGS = 500
RRF_K = 60
# More changed pairs than this since the last search: reload every vector rather than patch.
RELOAD_AFTER = 5000
# (dense, lexical) weights per query language, from the measurement above: fused with trigrams, e5 lost
# (sample company, 1:0.5: English 0.76, Japanese 0.64 first), so the lexical side serves only dense = false.
WEIGHTS = {"en": (1.0, 0.0), "ja": (1.0, 0.0)}
# Added to the ranking score of a pair in the question's language (not to its similarity): measured, 0.01
# and 0.02 ranked alike on three companies (docs/measurements.md).
LANGUAGE_BONUS = 0.01


@dataclass
class Hit:
    pair_id: int
    question: str
    answer: str
    language: str
    score: float
    rank: int
    # Cosine similarity of the question's and the pair's embeddings (0.0 when the dense side is off).
    similarity: float
    author: str
    reviewed_by: str | None
    reviewed_at: str | None


def trigrams(text: str) -> set[str]:
    text = normalize(text)
    return {text[i:i + 3] for i in range(len(text) - 2)
            if text[i:i + 3].strip() and any(c.isalnum() for c in text[i:i + 3])}


def changes(store: Store) -> int:
    """The latest change to a pair that retrieval can see (0008_retrieval_changes.sql); 0 before any."""
    return store.one("SELECT COALESCE(MAX(id), 0) AS n FROM retrieval_changes")["n"]


class LexicalIndex:
    """FTS5 trigram search ranked by bm25, over each question's rarest trigrams.

    bm25 reads every pair holding any trigram of the query (~1 us a pair here), so an OR of all of them cost
    50 ms at 100k pairs, where a third of the store shared some trigram with a Japanese question. The rarest
    trigrams carry most of bm25's evidence (the highest IDF; Lucene's MoreLikeThis picks query terms the same
    way), and a budget of postings bounds the work; a question whose every trigram is that common gets no
    lexical candidates and the dense side answers. How many pairs hold a trigram is looked up once per
    change of the store: the common trigrams, which every question shares, cost most to count.
    """

    def __init__(self):
        self.counts: dict[str, int] = {}
        self.stamp = None

    def sync(self, stamp: int) -> None:
        if stamp != self.stamp or len(self.counts) > 200_000:
            self.counts, self.stamp = {}, stamp

    def informative(self, store: Store, grams: set[str]) -> list[str]:
        chosen = sorted(grams)
        if len(chosen) > MAX_GRAMS:
            step = len(chosen) / MAX_GRAMS
            chosen = [chosen[int(i * step)] for i in range(MAX_GRAMS)]
        unknown = [gram for gram in chosen if gram not in self.counts]
        if unknown:
            found = {r["term"]: r["doc"] for r in store.rows(
                f"SELECT term, doc FROM pairs_vocab WHERE term IN ({','.join('?' * len(unknown))})", unknown)}
            self.counts.update({gram: found.get(gram, 0) for gram in unknown})
        picked, postings = [], 0
        for count, gram in sorted((self.counts[gram], gram) for gram in chosen if self.counts[gram]):
            if postings + count > MAX_POSTINGS:
                break
            picked.append(gram)
            postings += count
        return picked

    def search(self, store: Store, question: str, limit: int = CANDIDATES) -> list[int]:
        grams = self.informative(store, trigrams(question))
        if not grams:
            return []
        query = " OR ".join('"' + gram.replace('"', '""') + '"' for gram in grams)
        rows = store.rows("SELECT p.id FROM pairs_index JOIN pairs p ON p.id = pairs_index.rowid "
                          "WHERE pairs_index MATCH ? AND p.status = 'approved' "
                          "ORDER BY bm25(pairs_index, 2.0, 1.0) LIMIT ?", [query, limit])
        return [row["id"] for row in rows]


class DenseIndex:
    """Approved pairs' embeddings (VIEWS per pair) held in memory as float16; synced from the store before
    each search. A pair's similarity is the best of its views'.

    At 100k pairs the float32 product read 154 MB a query: 6 ms alone and 36 ms p50 / 122 ms p95 inside a
    search, where NumPy's BLAS threads fought torch's (the query encoder) for the two cores. Torch in float16
    reads half of that, with the encoder's threads: 2.7 ms (one view). Cosine similarities of unit vectors
    lose ~1e-3.
    """

    def __init__(self):
        self.ids = np.zeros(0, dtype=np.int64)
        self.languages = np.zeros(0, dtype=object)
        self.matrix = None
        self.stamp = None
        self._bonus: dict[str, object] = {}

    def sync(self, store: Store, stamp: int) -> None:
        """Apply the pairs changed since the last sync, or reload every vector when too far behind."""
        import torch

        if stamp == self.stamp:
            return
        oldest = store.one("SELECT MIN(id) AS m FROM retrieval_changes")["m"]
        if self.stamp is None or oldest is None or oldest > self.stamp + 1 or stamp - self.stamp > RELOAD_AFTER:
            self.ids, self.languages, vectors = self._approved(store, None)
            self.matrix = torch.from_numpy(vectors.reshape(-1, embeddings.DIMENSIONS))
        else:
            changed = sorted({r["pair_id"] for r in store.rows(
                "SELECT pair_id FROM retrieval_changes WHERE id > ? AND id <= ?", [self.stamp, stamp])})
            kept = ~np.isin(self.ids, changed)
            ids, languages, vectors = self._approved(store, changed)
            self.ids = np.concatenate([self.ids[kept], ids])
            self.languages = np.concatenate([self.languages[kept], languages])
            rows = torch.from_numpy(np.repeat(kept, embeddings.VIEWS))
            self.matrix = torch.cat([self.matrix[rows], torch.from_numpy(vectors.reshape(-1, embeddings.DIMENSIONS))])
        self.stamp, self._bonus = stamp, {}

    @staticmethod
    def _approved(store: Store, among: list[int] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ids, languages and (n, VIEWS, DIMENSIONS) float16 embeddings of the approved pairs (all, or those
        among the given ids), encoding any missing."""
        where = "" if among is None else f" AND p.id IN ({','.join('?' * len(among))})"
        params = [embeddings.MODEL] + ([] if among is None else among)
        missing = store.rows("SELECT p.id, p.question, p.answer FROM pairs p LEFT JOIN pair_embeddings e "
                             "ON e.pair_id = p.id AND e.model = ? WHERE p.status = 'approved' AND e.pair_id IS NULL"
                             + where, params)
        if missing:
            vectors = embeddings.pair_vectors([(r["question"], r["answer"]) for r in missing]).astype(np.float16)
            with store.transaction():
                store.db["pair_embeddings"].upsert_all(
                    [{"pair_id": r["id"], "model": embeddings.MODEL, "vector": v.tobytes()}
                     for r, v in zip(missing, vectors)], pk="pair_id")
        rows = store.rows("SELECT e.pair_id, e.vector, p.language FROM pair_embeddings e JOIN pairs p "
                          "ON p.id = e.pair_id WHERE p.status = 'approved' AND e.model = ?" + where
                          + " ORDER BY e.pair_id", params)
        vectors = np.frombuffer(b"".join(r["vector"] for r in rows), dtype=np.float16).copy()
        return (np.array([r["pair_id"] for r in rows], dtype=np.int64),
                np.array([r["language"] for r in rows], dtype=object),
                vectors.reshape(len(rows), embeddings.VIEWS, embeddings.DIMENSIONS))

    def search(self, question: str, language: str, limit: int = CANDIDATES) -> tuple[list[int], dict[int, float]]:
        """Pair ids best first, and their similarities. Ranked by similarity plus LANGUAGE_BONUS for a pair in the
        question's language: e5 is cross-lingual, and a pair's twin in the other language otherwise came first
        for some questions; the similarity itself (for the thresholds) stays the raw one."""
        import torch

        if not len(self.ids):
            return [], {}
        query = torch.from_numpy(embeddings.query(question).astype(np.float16))
        if language not in self._bonus:
            self._bonus[language] = torch.from_numpy((self.languages == language).astype(np.float32) * LANGUAGE_BONUS)
        with torch.inference_mode():
            similarity = (self.matrix @ query).view(len(self.ids), embeddings.VIEWS).amax(1).float()
            values, top = torch.topk(similarity + self._bonus[language], min(limit, len(self.ids)))
        return ([int(self.ids[i]) for i in top.tolist()],
                {int(self.ids[i]): float(similarity[i]) for i in top.tolist()})


class Retriever:
    def __init__(self, cfg: RetrievalConfig, weights: dict[str, tuple[float, float]] | None = None):
        self.cfg = cfg
        self.weights = weights or WEIGHTS
        self.dense = DenseIndex() if cfg.dense else None
        self.lexical = LexicalIndex()

    def search(self, store: Store, question: str, *, k: int | None = None, exclude: tuple[int, ...] = ()) -> list[Hit]:
        """The k approved pairs most relevant to the question, best first (none below the threshold)."""
        k = self.cfg.k if k is None else k
        language = detect_language(question)
        dense_weight, lexical_weight = self.weights[language] if self.dense else (0.0, 1.0)
        dense_ranked, similarity, lexical_ranked = [], {}, []
        # Read before the pairs: a change made while the indexes sync is seen by the next search.
        stamp = changes(store)
        if self.dense and dense_weight:
            self.dense.sync(store, stamp)
            dense_ranked, similarity = self.dense.search(question, language)
        if lexical_weight:
            self.lexical.sync(stamp)
            lexical_ranked = self.lexical.search(store, question)
        fused: dict[int, float] = {}
        for weight, ranked in ((dense_weight, dense_ranked), (lexical_weight, lexical_ranked)):
            for rank, pair_id in enumerate(ranked):
                fused[pair_id] = fused.get(pair_id, 0.0) + weight / (RRF_K + rank + 1)
        order = [p for p in sorted(fused, key=lambda p: -fused[p]) if p not in exclude]
        if similarity:
            order = self.confident(order, similarity)
        return self._hits(store, order[:k], fused, similarity)

    def confident(self, order: list[int], similarity: dict[int, float]) -> list[int]:
        """The pairs worth showing: similar enough to the question (off-topic questions get none), and within
        retrieval.margin of the most similar one, so a neighbour the question does not match is not shown
        beside the pair it does (the 135M model copied such neighbours; docs/measurements.md)."""
        order = [p for p in order if similarity.get(p, 0.0) >= self.cfg.min_similarity]
        if not order:
            return []
        best = max(similarity.get(p, 0.0) for p in order)
        return [p for p in order if similarity.get(p, 0.0) >= best - self.cfg.margin]

    def quoted(self, hits: list[Hit]) -> Hit | None:
        """The pair whose approved answer is shown verbatim with the model's: the best one, when it is similar
        enough to the question to be shown at all (never from the trigram side alone, which has no
        similarity to judge by)."""
        if self.cfg.quote and hits and hits[0].similarity >= self.cfg.min_similarity:
            return hits[0]
        return None

    @staticmethod
    def _hits(store: Store, ids: list[int], scores: dict[int, float], similarity: dict[int, float]) -> list[Hit]:
        if not ids:
            return []
        rows = {r["id"]: r for r in store.rows(
            f"SELECT id, question, answer, language, author, reviewed_by, reviewed_at FROM pairs "
            f"WHERE id IN ({','.join('?' * len(ids))})", ids)}
        return [Hit(pair_id=i, question=rows[i]["question"], answer=rows[i]["answer"], language=rows[i]["language"],
                    score=round(scores[i], 5), rank=rank, similarity=round(similarity.get(i, 0.0), 4),
                    author=rows[i]["author"],
                    reviewed_by=rows[i]["reviewed_by"], reviewed_at=rows[i]["reviewed_at"])
                for rank, i in enumerate(ids, start=1)]
