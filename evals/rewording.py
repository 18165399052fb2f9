"""Generated rewordings for evaluation, for a company with too few human-written paraphrases (day one).

Made apart from the training phrasings (trainer/augment.py): another instruction and other worked examples,
three drawn per question by eval.rewording_seed from a pool of their own (drawn again, up to
ATTEMPTS times, for a pair whose rewording failed the checks); greedy through the running vLLM's
base model and cached like augment's. A rewording is kept only when it is a valid rewording by augment's own
test (a question naming the same key terms) and no training phrasing of its pair (the question itself and
every phrasing augment generated for it) is as similar as eval.rewording_max_similarity (3-gram Jaccard of
the question cores, data/dedup.py), so an eval never asks what training taught word for word. Kept ones are
stored as paraphrases with source `generated` and reported apart from human-written ones.
"""
from __future__ import annotations

import random
from pathlib import Path

from uchi.config import Config
from uchi.data import dedup, paraphrases
from uchi.data.store import Store
from uchi.data.text import question_key
from uchi.language import detect_language
from uchi.trainer import augment

KIND = "eval-rewording"
SHOTS = 3
# A pair whose rewording fails the checks is asked again with another draw of worked examples, up to this
# many times: on the 135M default one draw kept 3 of 8 (the Japanese ones came back verbatim), three draws 9 of
# 37 on a 40-pair handbook (issue 18 acceptance run).
ATTEMPTS = 6
POOL = {
    "en": [("How long does a new laptop take to arrive?", "If I order a new laptop, when will it get here?"),
           ("Who do I ask about my payslip?", "Which person handles questions about payslips?"),
           ("Can I bring a guest to the Tokyo office?", "Am I allowed to take a visitor into the Tokyo office?"),
           ("Where are the spare keyboards kept?", "In which place can I find a spare keyboard?"),
           ("What is the budget for team dinners?", "How much may we spend on a team dinner?"),
           ("When is the expense report due?", "By what date must expense reports be handed in?")],
    "ja": [("新しいノートパソコンはいつ届きますか？", "ノートパソコンを注文したら、届くまでどれくらいかかりますか？"),
           ("給与明細について誰に聞けばいいですか？", "給与明細の質問は誰が担当していますか？"),
           ("東京オフィスに来客を連れて行けますか？", "東京オフィスにお客様を案内してもいいですか？"),
           ("予備のキーボードはどこにありますか？", "予備のキーボードが置いてある場所はどこですか？"),
           ("チームの食事会の予算はいくらですか？", "チームで食事会をするとき、いくらまで使えますか？"),
           ("経費精算の締め切りはいつですか？", "経費精算はいつまでに出せばいいですか？")],
}
INSTRUCTION = {"en": "Ask the same thing the way a colleague might, in other words, without answering: ",
               "ja": "同僚が聞くように、別の言い方で同じことを質問してください（答えは書かない）: "}


def request(question: str, seed: int, attempt: int = 0) -> tuple[str, list[dict]]:
    """(cache prompt, chat messages): the seed and attempt pick this question's worked examples from the pool."""
    language = detect_language(question)
    rng = random.Random(f"{seed}:{attempt}:{question_key(question)}")
    turns = []
    for before, after in rng.sample(POOL[language], SHOTS):
        turns += [{"role": "user", "content": INSTRUCTION[language] + before}, {"role": "assistant", "content": after}]
    turns.append({"role": "user", "content": INSTRUCTION[language] + question})
    return f"seed{seed}.{attempt}:{question}", turns


def too_close(text: str, training: list[str], threshold: float) -> bool:
    """Whether any training phrasing is at least `threshold` similar (numbers differing count as different)."""
    return any(dedup.similarity(text, phrasing) >= threshold for phrasing in training)


def acceptable(question: str, text: str, training: list[str], threshold: float) -> bool:
    return augment.keep(question, text, [], []) and not too_close(text, training, threshold)


def _cache(cfg: Config, store: Store, base_path: Path):
    # trainer.generate imports torch; the bot process imports the pipeline (hence this module) and never torch.
    from uchi.trainer.generate import Cache, model_id

    return Cache.open(cfg, store, model_id(cfg, base_path))


def training_phrasings(cache, pairs: list[dict], make_generator) -> dict[int, list[str]]:
    """Every phrasing training could have used for each pair: its question and all augment generated for it
    (kept or not, a superset of what was trained), reproduced from the cache or generated as training would."""
    asks = {prompt: turns for p in pairs for prompt, turns in augment.requests(p["question"])}
    outputs = cache.fill("phrasing", asks, augment.MAX_NEW_TOKENS, make_generator)
    return {p["id"]: [p["question"]] + [outputs[prompt].strip() for prompt, _ in augment.requests(p["question"])]
            for p in pairs}


def generate(cfg: Config, store: Store, client, pairs: list[dict], base_path: Path, log=print) -> int:
    """Reword the pairs that have no generated rewording yet; store those that pass. Returns how many were kept."""
    have = paraphrases.of(store, [p["id"] for p in pairs], sources=("generated",))
    todo = [p for p in pairs if p["id"] not in have]
    if not todo:
        return 0
    from uchi.trainer.generate import ServerGenerator

    cache = _cache(cfg, store, base_path)
    make_generator = lambda: ServerGenerator(client, cfg.model.served_name, cfg.eval.concurrency)
    training = training_phrasings(cache, todo, make_generator)
    seed, waiting, kept = cfg.eval.rewording_seed, todo, 0
    for attempt in range(ATTEMPTS):
        if not waiting:
            break
        asks = dict(request(p["question"], seed, attempt) for p in waiting)
        outputs = cache.fill(KIND, asks, augment.MAX_NEW_TOKENS, make_generator)
        missed = []
        with store.transaction():
            for pair in waiting:
                text = outputs[request(pair["question"], seed, attempt)[0]].strip()
                if acceptable(pair["question"], text, training[pair["id"]], cfg.eval.rewording_max_similarity):
                    kept += paraphrases.add(store, pair["id"], [text], source="generated",
                                            origin=f"{KIND}:seed{seed}.{attempt}")
                else:
                    missed.append(pair)
        waiting = missed
    log(f"  generated rewordings for evaluation: {kept} of {len(todo)} kept (valid, and under "
        f"{cfg.eval.rewording_max_similarity} similarity to every training phrasing)")
    return kept


def still_apart(cfg: Config, store: Store, pairs: list[dict], base_path: Path) -> dict[int, list[str]]:
    """Stored generated rewordings that are still apart from every cached training phrasing of their pair
    (a later run may have trained on phrasings closer to them), by pair id."""
    stored = paraphrases.of(store, [p["id"] for p in pairs], sources=("generated",))
    if not stored:
        return {}
    cache = _cache(cfg, store, base_path)
    by_id = {p["id"]: p for p in pairs}
    prompts = [prompt for pid in stored for prompt, _ in augment.requests(by_id[pid]["question"])]
    outputs = cache.get("phrasing", prompts, augment.MAX_NEW_TOKENS)
    found = {}
    for pid, rows in stored.items():
        question = by_id[pid]["question"]
        training = [question] + [outputs[p].strip() for p, _ in augment.requests(question) if p in outputs]
        apart = [r.question for r in rows if not too_close(r.question, training, cfg.eval.rewording_max_similarity)]
        if apart:
            found[pid] = apart
    return found
