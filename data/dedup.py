"""Near-duplicate questions, found on every insert.

A question is reduced to its core (normalised, punctuation, English function words and Japanese
politeness endings dropped: "How can I book the Lab Deck?" and "how do i book the lab deck please"
are both `booklabdeck`) and compared by the Jaccard similarity of its character 3-grams, which needs
no tokenizer and works for Japanese. MinHash signatures of the 3-grams are banded into the store
(LSH), so an insert looks only at likely candidates; each candidate is confirmed by the exact
similarity. Questions that state different numbers are never the same ("room 3" / "room 4").
Measured on the sample company: distinct questions score at most 0.64 ("国内出張の日当" vs "海外出張の日当"),
rewordings of politeness and punctuation 0.75-1.0; hence data.duplicate_threshold = 0.75.

At scale (a handbook whose questions share content words: "expense report" in thousands of them) a
band's bucket holds thousands of pairs that are not duplicates, and scoring every one made imports
quadratic. So each band contributes at most BUCKET_CAP of its newest pairs, candidates are ranked by how
many bands they share (which grows with similarity: 16·s² of 16 at similarity s; a true duplicate at 0.75
shares ~9, a pair sharing only "expense report" 1-2), and only the best CANDIDATES are scored exactly.
The paraphrase test among 5,000 handbook pairs (tests/test_quality.py) keeps these caps honest.

A batch of inserts (add_pairs: an import) reads the index through one `Index`, which keeps each bucket it
has read in memory, adds the batch's own pairs as they are placed and writes their band rows once at the
end: the same candidates in the same order as asking the store for each question, without its ~0.5 ms
lookup per question.
"""
from __future__ import annotations

import hashlib
import random
import re
from collections import Counter, deque
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain

import numpy as np

from uchi.data.store import Store
from uchi.data.text import normalize

N = 3
BANDS, ROWS = 16, 2  # 32 permutations; a pair at similarity 0.6 becomes a candidate with p > 0.999
_PRIME = (1 << 61) - 1
_rng = random.Random(20260129)
_PERMUTATIONS = [(_rng.randrange(1, _PRIME), _rng.randrange(_PRIME)) for _ in range(BANDS * ROWS)]
_P64, _S61, _S31, _S30 = np.uint64(_PRIME), np.uint64(61), np.uint64(31), np.uint64(30)
_LOW31, _LOW30 = np.uint64((1 << 31) - 1), np.uint64((1 << 30) - 1)
_A1 = np.array([[a >> 31] for a, _ in _PERMUTATIONS], dtype=np.uint64)
_A0 = np.array([[a & ((1 << 31) - 1)] for a, _ in _PERMUTATIONS], dtype=np.uint64)
_B = np.array([[b] for _, b in _PERMUTATIONS], dtype=np.uint64)
_STOPWORDS = set("a an the is are am was be do does did can could would should will shall may might i we you my "
                 "our your me us of for to in on at by with about please what how who which where when why there "
                 "it its this that".split())
_JA_ENDINGS = re.compile(r"(?:を教えてください|を教えて下さい|を教えて|教えてください|でしょうか|ですか|ますか|"
                         r"ください|下さい|は何番|は何|って何|ですが|ですか)+$")
_NUMBER = re.compile(r"\d+")
# Pairs taken from one band's bucket (the newest), and candidates scored exactly per question; measured
# (benchmarks/import_speed.py) to keep an import near-linear at 100k handbook pairs.
BUCKET_CAP = 32
CANDIDATES = 12
_ID = (1 << 63) - 1


@dataclass
class Neighbour:
    pair: dict
    similarity: float


def core(text: str) -> str:
    text = re.sub(r"['’]s\b", "", normalize(text))
    words = [w for w in re.sub(r"[^\w\s]", " ", text).split() if w not in _STOPWORDS]
    return _JA_ENDINGS.sub("", "".join(words)) or normalize(text)


def shingles(text: str) -> set[str]:
    return set(_shingles(text))


@lru_cache(maxsize=8192)
def _shingles(text: str) -> frozenset[str]:
    base = core(text)
    return frozenset(base[i:i + N] for i in range(max(1, len(base) - N + 1)))


def jaccard(a: set[str], b: set[str]) -> float:
    if not (a or b):
        return 1.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


@lru_cache(maxsize=8192)
def _numbers(text: str) -> tuple[str, ...]:
    return tuple(sorted(_NUMBER.findall(normalize(text))))


def numbers(text: str) -> list[str]:
    return list(_numbers(text))


def similarity(a: str, b: str) -> float:
    """0 when the texts state different numbers, else the Jaccard similarity of their 3-gram cores."""
    return jaccard(_shingles(a), _shingles(b)) if _numbers(a) == _numbers(b) else 0.0


@lru_cache(maxsize=1 << 16)
def _hash(shingle: str) -> int:
    return int.from_bytes(hashlib.blake2b(shingle.encode("utf-8"), digest_size=8).digest(), "big")


def bands(text: str) -> list[int]:
    return list(_bands(text))


def _mod(x):
    """x mod 2^61-1 for uint64 x (a Mersenne prime: fold the high bits onto the low ones)."""
    x = (x & _P64) + (x >> _S61)
    x = (x & _P64) + (x >> _S61)
    return np.where(x >= _P64, x - _P64, x)


def _signatures(texts: list[str]) -> np.ndarray:
    """Per text (a column), the min over its shingles of (a·h + b) mod 2^61-1 for each permutation (a row),
    exactly as Python's integers give it, in 64-bit numpy arithmetic (a and h split into 31-bit halves); all
    texts' shingles in one array, so that numpy's per-call cost is paid once per batch, not per question."""
    hashes = [[_hash(s) for s in _shingles(text)] for text in texts]  # never empty: a text has >= 1 shingle
    h = _mod(np.fromiter(chain.from_iterable(hashes), dtype=np.uint64, count=sum(map(len, hashes))))[None, :]
    h1, h0 = h >> _S31, h & _LOW31
    high = _A1 * h1  # < 2^60, times 2^62 ≡ 2 (mod p)
    mid = _A1 * h0 + _A0 * h1  # < 2^62, times 2^31: split at 2^30 so that 2^61 ≡ 1 takes the top off
    total = _mod(high << np.uint64(1)) + (mid >> _S30) + ((mid & _LOW30) << _S31) + _mod(_A0 * h0) + _B
    starts = np.cumsum([0] + [len(row) for row in hashes[:-1]])
    return np.minimum.reduceat(_mod(total), starts, axis=1)


def _banded(signature: list[int]) -> tuple[int, ...]:
    out = []
    for band in range(BANDS):
        rows = ",".join(map(str, signature[band * ROWS:(band + 1) * ROWS])).encode()
        out.append(int.from_bytes(hashlib.blake2b(rows, digest_size=8).digest(), "big") >> 1)  # SQLite int64
    return tuple(out)


def many_bands(texts: list[str]) -> dict[str, tuple[int, ...]]:
    """text -> its band hashes, for many texts at once (what `bands` gives each)."""
    unique = list(dict.fromkeys(texts))
    if not unique:
        return {}
    return dict(zip(unique, map(_banded, _signatures(unique).T.tolist())))


@lru_cache(maxsize=4096)
def _bands(text: str) -> tuple[int, ...]:
    return many_bands([text])[text]


def index(store: Store, pair_id: int, question: str) -> None:
    _write_bands(store, [(pair_id, band, h) for band, h in enumerate(bands(question))])


def _write_bands(store: Store, rows: list[tuple[int, int, int]]) -> None:
    """(pair id, band, hash) rows into the index, replacing a pair's earlier bands."""
    store.db.conn.executemany("INSERT OR REPLACE INTO question_bands (pair_id, band, hash) VALUES (?, ?, ?)", rows)


def backfill(store: Store) -> int:
    """Index pairs that have no bands yet (stored before this index existed, or whose question was edited)."""
    missing = store.rows("SELECT p.id, p.question FROM pairs p LEFT JOIN question_bands b "
                         "ON b.pair_id = p.id AND b.band = 0 WHERE b.pair_id IS NULL")
    for row in missing:
        index(store, row["id"], row["question"])
    return len(missing)


class Index:
    """The near-duplicate index as one batch of inserts sees it, inside the batch's write transaction.

    Each (band, hash) bucket is read from the store once, as its BUCKET_CAP newest pair ids (newest first);
    a pair the batch adds goes to the front of its buckets in memory, and its band rows are kept for `flush`,
    which writes them in the order they were added, so their rowids (the buckets' age) are what writing each
    at once would have given. Questions are remembered by pair id, so candidates are scored without reading
    them again. Nothing else may write question_bands while an Index is in use (the transaction sees to it).
    """

    def __init__(self, store: Store):
        self.store = store
        self.buckets: dict[tuple[int, int], deque[int]] = {}
        self.questions: dict[int, str] = {}
        self.pending: list[tuple[int, int, int]] = []
        self.known: dict[str, tuple[int, ...]] = {}
        # A store without band rows (a first import) has nothing to read.
        self.stored = store.db.execute("SELECT 1 FROM question_bands LIMIT 1").fetchone() is not None

    def prepare(self, questions: list[str]) -> None:
        """Compute the bands of questions about to be looked up, together (see _signatures)."""
        self.known.update(many_bands([q for q in questions if q not in self.known]))

    def bands(self, question: str) -> tuple[int, ...]:
        return self.known.get(question) or _bands(question)

    def _buckets(self, keys: tuple[int, ...]) -> list[deque[int]]:
        missing = [(band, h) for band, h in enumerate(keys) if (band, h) not in self.buckets]
        for key in missing:
            self.buckets[key] = deque(maxlen=BUCKET_CAP)
        if missing and self.stored:
            union = " UNION ALL ".join(
                f"SELECT * FROM (SELECT rowid, band, hash, pair_id FROM question_bands WHERE band = {band} "
                f"AND hash = ? ORDER BY rowid DESC LIMIT {BUCKET_CAP})" for band, _ in missing)
            for _, band, h, pair_id in sorted(self.store.db.execute(union, [h for _, h in missing]).fetchall(),
                                              reverse=True):
                self.buckets[band, h].append(pair_id)  # newest first
        return [self.buckets[band, h] for band, h in enumerate(keys)]

    def candidates(self, question: str, exclude: int | None = None) -> list[int]:
        """The CANDIDATES pair ids sharing the most buckets with the question (ties: the newest)."""
        shared = Counter(chain.from_iterable(self._buckets(self.bands(question))))
        shared.pop(exclude, None)
        # (bands shared, pair id) packed in one int, largest first: plain ints sort fastest (pair ids < 2^63)
        ranked = sorted([n << 63 | pair_id for pair_id, n in shared.items()], reverse=True)[:CANDIDATES]
        return [packed & _ID for packed in ranked]

    def question_of(self, pair_ids: list[int]) -> dict[int, str]:
        unknown = [pair_id for pair_id in pair_ids if pair_id not in self.questions]
        if unknown:
            marks = ",".join("?" * len(unknown))
            self.questions.update(self.store.db.execute(f"SELECT id, question FROM pairs WHERE id IN ({marks})",
                                                        unknown).fetchall())
        return {pair_id: self.questions[pair_id] for pair_id in pair_ids if pair_id in self.questions}

    def add(self, pair_id: int, question: str) -> None:
        keys = self.bands(question)
        for bucket in self._buckets(keys):
            bucket.appendleft(pair_id)
        self.questions[pair_id] = question
        self.pending += [(pair_id, band, h) for band, h in enumerate(keys)]
        self.known.pop(question, None)

    def flush(self) -> None:
        _write_bands(self.store, self.pending)
        self.pending = []


def neighbours(store: Store, question: str, threshold: float, *, exclude: int | None = None,
               within: Index | None = None) -> list[Neighbour]:
    """Stored pairs whose question is at least `threshold` similar, most similar first (of the CANDIDATES
    sharing the most bands); `within` a batch's Index, as that batch sees the store."""
    within = within or Index(store)
    texts = within.question_of(within.candidates(question, exclude))
    scored = [(pair_id, score) for pair_id, text in texts.items()
              if (score := similarity(question, text)) >= threshold]
    if not scored:
        return []
    marks = ",".join("?" * len(scored))
    rows = {row["id"]: row for row in store.rows(f"SELECT * FROM pairs WHERE id IN ({marks})",
                                                 [pair_id for pair_id, _ in scored])}
    found = [Neighbour(rows[pair_id], round(score, 3)) for pair_id, score in scored if pair_id in rows]
    return sorted(found, key=lambda n: (-n.similarity, n.pair["id"]))


def answers_agree(a: str, b: str, threshold: float) -> bool:
    return _numbers(a) == _numbers(b) and jaccard(_shingles(a), _shingles(b)) >= threshold


@dataclass
class Placement:
    """Where a new pair goes: merged into an existing pair, or a new row that conflicts with some."""
    merge_into: dict | None
    conflicts: list[Neighbour]


# Which of several duplicates survives: the approved one first.
STATUS_RANK = {"approved": 0, "pending": 1, "rejected": 2}


def place(store: Store, question: str, answer: str, *, duplicate_threshold: float,
          agree_threshold: float, within: Index | None = None) -> Placement:
    """A repeat of an existing pair (the same question, an agreeing answer) merges into it, the approved
    one first; a different answer to the same question conflicts with every live pair that disagrees."""
    near = neighbours(store, question, duplicate_threshold, within=within)
    agreeing = [n for n in near if answers_agree(answer, n.pair["answer"], agree_threshold)]
    if agreeing:
        best = min(agreeing, key=lambda n: (STATUS_RANK[n.pair["status"]], -n.similarity, n.pair["id"]))
        return Placement(best.pair, [])
    return Placement(None, [n for n in near if n.pair["status"] != "rejected"])


def nearest(pairs: list[dict], question: str, k: int = 5) -> list[Neighbour]:
    """The k pairs whose questions are most similar to this one (for lineage: no index needed)."""
    target = shingles(question)
    scored = [Neighbour(p, round(jaccard(target, shingles(p["question"])), 3)) for p in pairs]
    return sorted(scored, key=lambda n: (-n.similarity, n.pair["id"]))[:k]
