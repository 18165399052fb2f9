"""Real training steps on the real model (slow tier)."""
import json
from pathlib import Path

import pytest

from conftest import seed_facts
from uchi import config as config_module
from uchi.data import runs
from uchi.data.store import Store
from uchi.errors import UchiError
from uchi.trainer import run as run_module

pytestmark = pytest.mark.slow


def test_training_lowers_the_loss_and_registers_the_adapter(trained):
    env, adapter = trained
    meta = adapter.metadata
    losses = [point["loss"] for point in meta["losses"]]
    assert len(losses) == meta["steps"] == meta["planned_steps"]  # 8 pairs are too few to carve a validation split
    assert meta["losses"][-1]["epoch"] == 12
    assert sum(losses[-3:]) / 3 < 0.5 * sum(losses[:3]) / 3
    path = Path(adapter.path)
    assert (path / "adapter_model.safetensors").is_file() and (path / "adapter_config.json").is_file()
    on_disk = json.loads((path / "uchi.json").read_text())
    assert on_disk["version"] == adapter.version and on_disk["snapshot"] == adapter.snapshot
    assert meta["n_pairs"] == 8 and meta["params"]["rank"] == 8 and meta["seconds"] > 0  # r=8 under 100 pairs
    assert {"torch", "transformers", "peft"} <= set(meta["environment"])
    cfg = config_module.load(env=env)
    with Store.open(cfg) as store:
        run = runs.get(store, meta["run_id"])
        assert run.status == "succeeded" and run.adapter_version == adapter.version


def test_a_failed_run_leaves_nothing_in_the_registry(model_cfg, monkeypatch):
    with Store.open(model_cfg) as store:
        seed_facts(store, model_cfg)

        def explode(*args, **kwargs):
            raise RuntimeError("killed mid-run")

        # The worker's own function, in this process, so the fault can be planted in it.
        monkeypatch.setattr(run_module, "build", explode)
        with pytest.raises(RuntimeError):
            run_module.execute(model_cfg, store, runs.create(model_cfg, store, runner="local"), log=lambda _: None)
        run = runs.latest(store, 1)[0]
        assert run.status == "failed" and "killed mid-run" in run.error
        assert store.one("SELECT COUNT(*) AS n FROM adapters")["n"] == 0
        assert not list((runs.adapters_dir(model_cfg) / ".partial").glob("*"))


def test_a_run_whose_process_died_is_marked_failed(model_cfg):
    with Store.open(model_cfg) as store:
        seed_facts(store, model_cfg)
        from uchi.data import snapshot

        snap = snapshot.current(store)
        snapshot.record(store, snap)
        dead = store.db["runs"].insert({"snapshot": snap.hash, "base_model": "x", "status": "running", "params": "{}",
                                        "pid": 2 ** 22 + 12345, "started_at": "2026-01-01"}).last_pk
        partial = runs.adapters_dir(model_cfg) / ".partial" / f"run-{dead}"
        partial.mkdir(parents=True)
        (partial / "adapter_model.safetensors").write_bytes(b"half")
        runs.reap_dead_runs(store, model_cfg)
        assert runs.get(store, dead).status == "failed"
        assert not partial.exists()


def test_missing_model_is_a_clear_error(tmp_path, monkeypatch):
    from uchi.basemodel import resolve

    monkeypatch.setenv("UCHI_MODEL_BASE", "someorg/not-downloaded-model")
    with pytest.raises(UchiError, match="neither a local folder nor in the local Hugging Face cache"):
        resolve(config_module.load())
    monkeypatch.setenv("UCHI_MODEL_BASE", "embedded:smollm2-135m-instruct")
    with pytest.raises(UchiError, match="uchi model prepare"):
        resolve(config_module.load())


def test_qlora_nf4_trains_on_cpu(model_cfg):
    """QLoRA (bitsandbytes nf4 + double quant) loads and takes real steps on CPU too."""
    from uchi.basemodel import resolve
    from uchi.trainer import lora
    from uchi.trainer.loop import Loop
    from uchi.trainer.mixture import Mixture
    from uchi.trainer.sizing import Hyper

    cfg = model_cfg.train
    cfg.quantization, cfg.batch_size = "nf4", 4
    base = resolve(model_cfg)
    model = lora.add_adapter(lora.load_base(base, cfg, "cpu", "fp32"), Hyper(8, 16, 1e-3, 2, {}), cfg, "cpu")
    quantized = [m for m in model.modules() if m.__class__.__name__ == "Linear4bit"]
    assert quantized and quantized[0].weight.quant_type == "nf4"
    from conftest import FACTS

    pairs = [{"id": i, "question": q, "answer": a} for i, (q, a, *_) in enumerate(FACTS[:4])]
    mixture = Mixture(pairs=pairs, validation=[], monitor=[], phrasings={p["id"]: [p["question"]] for p in pairs},
                      replay=[[]])
    result = Loop(model, lora.load_tokenizer(base), mixture, Hyper(8, 16, 1e-3, 2, {}), cfg, "cpu", "fp32").run(
        progress=False, log=lambda _: None)
    assert len(result.losses) == 2 and all(p["loss"] > 0 for p in result.losses)
