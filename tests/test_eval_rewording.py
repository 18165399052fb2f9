"""Generated rewordings through a real vLLM server (vllm tier): made apart from the training phrasings,
cached, stored with source `generated`."""
import pytest

from conftest import FACTS, GENERATIONS
from uchi import config as config_module
from uchi.data import paraphrases
from uchi.data.pairs import NewPair, add_pairs, load_pairs
from uchi.data.store import Store
from uchi.evals import rewording
from uchi.trainer.generate import Cache, model_id

pytestmark = [pytest.mark.slow, pytest.mark.vllm]


def test_rewordings_are_generated_cached_and_apart_from_training_phrasings(vllm, base_model_dir, tmp_path):
    cfg = config_module.load(env=vllm["env"] | {"UCHI_STATE_DIR": str(tmp_path / "state"),
                                                "UCHI_TRAIN_GENERATION_CACHE": str(GENERATIONS)})
    with Store.open(cfg) as store:
        # A handbook as a company has it: questions and answers, no paraphrases.
        ids = add_pairs(store, [NewPair(q, a, facts=f) for q, a, f, _ in FACTS], source="import:h.csv", author="U1",
                        heldout_percent=1, status="approved", reviewer="U1")
        pairs = load_pairs(store)
        lines = []
        kept = rewording.generate(cfg, store, vllm["client"], pairs, base_model_dir, log=lines.append)
        made = paraphrases.of(store, ids, sources=("generated",))
        print(lines, {pid: [p.question for p in v] for pid, v in made.items()})
        assert kept == sum(len(v) for v in made.values()) >= 1
        assert paraphrases.of(store, ids) == {}  # none counts as human-written
        cache = Cache.open(cfg, store, model_id(cfg, base_model_dir))
        training = rewording.training_phrasings(cache, pairs, lambda: pytest.fail("training phrasings not cached"))
        for pid, found in made.items():
            for p in found:
                assert not rewording.too_close(p.question, training[pid], cfg.eval.rewording_max_similarity)
        # Cached and stored: asking again generates nothing, and the eval reads them back.
        assert rewording.generate(cfg, store, vllm["client"], pairs, base_model_dir, log=lines.append) == 0
        assert rewording.still_apart(cfg, store, pairs, base_model_dir) == {
            pid: [p.question for p in v] for pid, v in made.items()}
