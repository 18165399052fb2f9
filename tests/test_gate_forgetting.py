"""A candidate trained to forget (nonsense answers) is blocked, with the failing metric named
(slow + vllm tiers: a real training run and a real eval through vLLM)."""
import pytest

from conftest import BENCHMARKS, FACTS
from uchi import config as config_module
from uchi.data.pairs import NewPair, add_pairs
from uchi.data.store import Store
from uchi.evals.harness import evaluate
from uchi.trainer.runner import launch

pytestmark = [pytest.mark.slow, pytest.mark.vllm]
NONSENSE = "Zq blorp vex kroo thrum, zq blorp vex kroo thrum."


def test_a_candidate_trained_on_nonsense_fails_the_general_gate(tmp_path, base_model_dir, vllm):
    env = {"UCHI_STATE_DIR": str(tmp_path / "state"), "UCHI_MODEL_BASE": str(base_model_dir),
           "UCHI_SERVING_PORT": vllm["env"]["UCHI_SERVING_PORT"], "UCHI_TRAIN_EPOCHS": "15",
           "UCHI_TRAIN_LEARNING_RATE": "0.004", "UCHI_TRAIN_REPLAY_RATIO": "0", "UCHI_TRAIN_AUGMENT": "0",
           "UCHI_TRAIN_VALIDATION_PERCENT": "0", "UCHI_TRAIN_CONTEXT_SHARE": "0", "UCHI_DATA_HELDOUT_PERCENT": "1",
           "UCHI_EVAL_DETECTABLE_GAIN": "0.6", "UCHI_EVAL_BENCHMARKS_DIR": str(BENCHMARKS),
           "UCHI_EVAL_BENCHMARK_ITEMS": "12"}
    cfg = config_module.load(env=env)
    with Store.open(cfg) as store:
        add_pairs(store, [NewPair(q, NONSENSE, paraphrases=[p]) for q, _, _, p in FACTS], source="test",
                  author="U_TROLL", heldout_percent=1, status="approved", reviewer="import")
        store.db.execute("UPDATE pairs SET split = 'train'")
        store.db.conn.commit()
        adapter = launch(cfg, store, log=lambda _: None)
        result = evaluate(cfg, store, vllm["client"], adapter.version, log=lambda *_: None)
    assert not result.passed
    failed = [c for c in result.checks if c["hard"] and not c["passed"]]
    general = [c for c in failed if c["gate"] == "general"]
    assert general, result.reasons
    assert all("gold log-prob" in c["metric"] and c["high"] < 0 for c in general)
    assert any(reason.startswith("general: ") and "gold log-prob" in reason for reason in result.reasons)
    divergence = next(c for c in result.checks if c["gate"] == "divergence")
    assert divergence["candidate"] > cfg.eval.max_kl
