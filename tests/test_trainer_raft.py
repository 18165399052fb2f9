"""RAFT examples: retrieved pairs in the prompt as serving puts them there, with distractors and misses."""
from uchi.data import snapshot
from uchi.data.importer import import_file
from uchi.data.samples import company_file
from uchi.trainer.mixture import Mixture, neighbours


def test_context_mixes_oracle_distractor_and_plain_examples(store, cfg):
    import_file(store, cfg, company_file(), author="demo", approve=True)
    pairs = snapshot.current(store).pairs[:40]
    near = neighbours(store, pairs, cfg.retrieval)
    # English distractors below retrieval.min_similarity are left out, as serving would leave them out.
    assert all(len(v) <= cfg.retrieval.k for v in near.values())
    assert sum(len(v) == cfg.retrieval.k for v in near.values()) >= len(pairs) // 2
    assert all(p["question"] not in [q for q, _ in near[p["id"]]] for p in pairs)
    mixture = Mixture(pairs=pairs, validation=[], monitor=[], phrasings={p["id"]: [p["question"]] for p in pairs},
                      replay=[[]], neighbours=near, raft=(0.5, 0.8, cfg.retrieval.k, 0))
    kinds = {"plain": 0, "oracle": 0, "distractors": 0}
    for epoch in range(5):
        for pair, turns in zip(pairs, mixture.epoch(epoch)):
            asked = turns[0]["content"]
            if asked == pair["question"]:
                kinds["plain"] += 1
            elif f"Q: {pair['question']}\nA: {pair['answer']}" in asked:
                kinds["oracle"] += 1
                # In retrieval's order, as serving shows it: a pair's own question retrieves it first.
                assert asked.split("\n", 1)[1].startswith(f"Q: {pair['question']}\nA: {pair['answer']}")
            else:
                kinds["distractors"] += 1
            assert turns[1]["content"] == pair["answer"] and asked.endswith(pair["question"])
    total = sum(kinds.values())
    assert 0.35 < kinds["plain"] / total < 0.65
    assert kinds["oracle"] > 2 * kinds["distractors"] > 0
    again = Mixture(pairs=pairs, validation=[], monitor=[], phrasings={p["id"]: [p["question"]] for p in pairs},
                    replay=[[]], neighbours=near, raft=(0.5, 0.8, cfg.retrieval.k, 0))
    assert again.epoch(3) == mixture.epoch(3)  # seeded: a resumed run sees the same examples
