"""Real runs on the real model (slow tier): early stopping keeps the best step of an overfitting run, a killed
run resumes to the same result, the preference stage trains on corrections, generations are cached."""
import json
import os
import signal
import time
from pathlib import Path

import pytest
import torch

from conftest import FACTS
from uchi import config as config_module
from uchi.data import adapters, runs
from uchi.data.pairs import NewPair, add_pairs
from uchi.data.runs import create, reap_dead_runs, workdir
from uchi.data.store import Store, now
from uchi.prompt import messages
from uchi.trainer import replay
from uchi.trainer.runner import LocalRunner, launch

pytestmark = pytest.mark.slow

# Small and quick: no generated data unless a test asks for it, every fact trained.
QUICK = {"UCHI_TRAIN_REPLAY_RATIO": "0", "UCHI_TRAIN_AUGMENT": "0", "UCHI_TRAIN_GENERATOR": "transformers",
         "UCHI_TRAIN_CONTEXT_SHARE": "0", "UCHI_DATA_HELDOUT_PERCENT": "1"}


def setup(tmp_path, base_model_dir, name: str, facts=FACTS, **train) -> tuple:
    env = QUICK | {"UCHI_STATE_DIR": str(tmp_path / name), "UCHI_MODEL_BASE": str(base_model_dir)}
    env |= {f"UCHI_TRAIN_{key.upper()}": str(value) for key, value in train.items()}
    cfg = config_module.load(env=env)
    store = Store.open(cfg)
    pairs = [NewPair(question=q, answer=a, facts=f, paraphrases=[p]) for q, a, f, p in facts]
    add_pairs(store, pairs, source="test", author="U_TEST", heldout_percent=1, status="approved", reviewer="U_R")
    store.db.execute("UPDATE pairs SET split = 'train'")
    store.db.conn.commit()
    return cfg, store


def test_early_stopping_keeps_the_best_step_of_an_overfitting_run(tmp_path, base_model_dir):
    # 6 pairs trained, 2 validated; a high learning rate memorises the 6 and grows confidently wrong on the 2.
    cfg, store = setup(tmp_path, base_model_dir, "early", validation_percent=25, epochs=30, batch_size=6,
                       learning_rate=0.004, patience=2)
    adapter = launch(cfg, store, log=lambda _: None)
    meta = adapter.metadata
    validations = meta["validations"]
    losses = [v["val_loss"] for v in validations]
    best = min(range(len(losses)), key=losses.__getitem__)
    assert meta["data"]["validation_pairs"] == 2 and meta["data"]["train_pairs"] == 6
    assert meta["stopped_early"] and meta["steps"] < meta["planned_steps"] == 30
    assert meta["best_step"] == validations[best]["step"] and len(validations) == best + 1 + 2
    assert all(loss > losses[best] for loss in losses[best + 1:])
    assert validations[-1]["train_loss"] < validations[best]["train_loss"]  # still fitting the train pairs
    # The registered adapter is the best step's, not the last one's: its validation loss is the best loss.
    assert _validation_loss(cfg, store, adapter) == pytest.approx(losses[best], abs=2e-4)
    assert (Path(adapter.path) / "loss_curves.png").stat().st_size > 10_000
    rows = store.rows("SELECT * FROM run_validations WHERE run_id = ? ORDER BY step", [meta["run_id"]])
    assert [r["val_loss"] for r in rows] == losses and sum(r["best"] for r in rows) >= 1
    assert not list(workdir(cfg, meta["run_id"]).glob("checkpoint*"))  # cleaned up once registered
    store.close()


def _validation_loss(cfg, store, adapter) -> float:
    from peft import PeftModel

    from uchi.data import snapshot
    from uchi.trainer import lora
    from uchi.trainer.loop import Encoder, mean_loss
    from uchi.trainer.loss import AnswerLoss
    from uchi.trainer.mixture import validation_split

    base = Path(cfg.model.base)
    tokenizer = lora.load_tokenizer(base)
    model = PeftModel.from_pretrained(lora.load_base(base, cfg.train, "cpu", "fp32"), adapter.path)
    _, held = validation_split(snapshot.load(store, adapter.snapshot), cfg.train)
    examples = Encoder(tokenizer, cfg.train.max_seq_len)([messages(p["question"], p["answer"]) for p in held])
    return mean_loss(AnswerLoss(model), examples, 8, tokenizer.pad_token_id, "cpu",
                     lambda: torch.autocast("cpu", enabled=False))


def test_a_killed_run_resumes_to_the_same_result(tmp_path, base_model_dir):
    settings = dict(epochs=2, batch_size=3, eval_every_steps=1, validation_percent=0, learning_rate=0.002)
    # Uninterrupted, in this process.
    cfg, store = setup(tmp_path, base_model_dir, "straight", FACTS[:6], **settings)
    straight = launch(cfg, store, log=lambda _: None)
    store.close()
    # The same run in a real worker process, killed once a checkpoint is on disk.
    cfg, store = setup(tmp_path, base_model_dir, "killed", FACTS[:6], **settings)
    run_id = create(cfg, store, runner="local")
    runner = LocalRunner()
    runner.submit(cfg, store, run_id)
    log = workdir(cfg, run_id) / "train.log"
    deadline = time.monotonic() + 300
    while "step 2/4" not in (log.read_text() if log.exists() else ""):
        assert runner.process.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    os.kill(runner.process.pid, signal.SIGKILL)
    runner.process.wait()
    reap_dead_runs(store, cfg)
    run = runs.get(store, run_id)
    assert run.status == "failed" and f"uchi train --resume {run_id}" in run.error
    assert "step 2/4" in run.error  # the end of its log
    assert run.checkpoint_step >= 2 and store.one("SELECT COUNT(*) AS n FROM adapters")["n"] == 0
    lines = []
    resumed = launch(cfg, store, resume=run_id, log=lines.append)
    assert any(line.startswith(f"resuming at step {run.checkpoint_step} of 4") for line in lines)
    a, b = straight.metadata, resumed.metadata
    assert [p["loss"] for p in b["losses"]] == pytest.approx([p["loss"] for p in a["losses"]], abs=1e-4)
    assert b["resumed_at_step"] == run.checkpoint_step and b["attempts"] == 2 and len(b["losses"]) == 4
    _assert_same_weights(Path(straight.path), Path(resumed.path))
    done = runs.get(store, run_id)
    assert (done.status, done.attempts) == ("succeeded", 2)
    store.close()


def _assert_same_weights(a: Path, b: Path) -> None:
    from safetensors.torch import load_file

    first, second = load_file(str(a / "adapter_model.safetensors")), load_file(str(b / "adapter_model.safetensors"))
    assert first.keys() == second.keys()
    for name in first:
        torch.testing.assert_close(first[name], second[name], atol=1e-5, rtol=1e-4)


# 👎 answers and the corrections written for them: (question, correction, the bot's answer).
CORRECTIONS = [("What is the gate code of the Yokohama parking lot?", "The gate code is 4471.", "It has no code."),
               ("Who owns the quarterly roadmap?", "Aiko Brandt-Mori owns the quarterly roadmap.", "Your manager."),
               ("横浜倉庫の入館方法は？", "受付でQRコードを見せて入館します。", "わかりません。")]


def test_the_dpo_stage_trains_on_approved_corrections(tmp_path, base_model_dir):
    cfg, store = setup(tmp_path, base_model_dir, "dpo", FACTS[:4], epochs=2, preference="dpo",
                       preference_min_pairs=3, validation_percent=0)
    _corrections(store, cfg, CORRECTIONS)
    adapter = launch(cfg, store, log=lambda _: None)
    stage = adapter.metadata["preference"]
    assert stage["method"] == "dpo" and stage["pairs"] == 3 and stage["losses"]
    path = Path(adapter.path)
    assert (path / "adapter_model.safetensors").is_file() and not (path / "ref").exists()
    assert json.loads((path / "adapter_config.json").read_text())["r"] == 8
    store.close()


def _corrections(store, cfg, rows, status="approved") -> None:
    for question, chosen, rejected in rows:
        answer_id = store.db["answers"].insert({"question": question, "answer": rejected, "served_model": "base",
                                                "latency_ms": 1.0, "created_at": now()}).last_pk
        pair_id = add_pairs(store, [NewPair(question=question, answer=chosen)], source="test", author="U_FIXER",
                            heldout_percent=1, status=status, reviewer="U_R")[0]
        store.db.execute("UPDATE pairs SET split = 'train' WHERE id = ?", [pair_id])
        store.db["preference_pairs"].insert({"answer_id": answer_id, "pair_id": pair_id, "prompt": question,
                                             "chosen": chosen, "rejected": rejected, "author": "U_FIXER",
                                             "created_at": now()})
    store.db.conn.commit()


def test_kto_runs_on_unpaired_examples(tmp_path, base_model_dir):
    from uchi.trainer import lora, preference
    from uchi.trainer.sizing import Hyper

    cfg, store = setup(tmp_path, base_model_dir, "kto", FACTS[:1], preference="kto")
    _corrections(store, cfg, CORRECTIONS[:2])
    base = Path(cfg.model.base)
    tokenizer = lora.load_tokenizer(base)
    model = lora.add_adapter(lora.load_base(base, cfg.train, "cpu", "fp32"), Hyper(8, 16, 1e-3, 1, {}), cfg.train, "cpu")
    stage = preference.stage(model, tokenizer, preference.eligible(store), cfg.train, 1e-4, "cpu", "fp32", tmp_path,
                             log=lambda _: None)
    assert stage["method"] == "kto" and stage["pairs"] == 2 and stage["losses"]
    assert list(model.peft_config) == ["default"]
    store.close()


def test_replay_answers_and_phrasings_are_generated_once_and_cached(tmp_path, base_model_dir, monkeypatch):
    from uchi.data import snapshot
    from uchi.trainer import augment, lora
    from uchi.trainer.generate import Cache, LocalGenerator, model_id
    from uchi.trainer.mixture import build

    monkeypatch.setattr(replay, "MONITOR_SIZE", 2)
    cfg, store = setup(tmp_path, base_model_dir, "mix", [FACTS[0], FACTS[4]], augment=2, replay_ratio=1.0,
                       validation_percent=0)
    base = Path(cfg.model.base)
    tokenizer, model = lora.load_tokenizer(base), lora.load_base(base, cfg.train, "cpu", "fp32")
    snap = snapshot.current(store)
    made = []
    make = lambda: made.append(1) or LocalGenerator(model, tokenizer)
    started = time.monotonic()
    first = build(store, snap, cfg.train, 2, Cache.open(cfg, store, model_id(cfg, base)), make)
    took = time.monotonic() - started
    again = build(store, snap, cfg.train, 2, Cache.open(cfg, store, model_id(cfg, base)), make)
    print(f"generated {first.stats['generated']} texts in {took:.0f}s; stats {first.stats}")
    # 2 questions x 2 phrasings, 2 replay prompts x 2 epochs, 2 monitor prompts; a generator per kind, once.
    assert first.stats["generated"] == 4 + 4 + 2 and again.stats["generated"] == 0 and len(made) == 2
    assert [again.epoch(e) for e in range(2)] == [first.epoch(e) for e in range(2)]
    rows = store.rows("SELECT kind, backend, COUNT(*) AS n FROM generations GROUP BY kind, backend")
    assert {(r["kind"], r["backend"], r["n"]) for r in rows} == {("phrasing", "transformers", 4),
                                                                  ("replay", "transformers", 6)}
    assert len(first.epoch(0)) == len(first.epoch(1)) == 2 + first.stats["replay_per_epoch"]
    for pair in first.pairs:
        variants = first.phrasings[pair["id"]]
        assert variants[0] == pair["question"]
        assert all(augment.keep(pair["question"], v, [], []) for v in variants[1:])
    bank = {p["prompt"] for p in replay.bank()}
    assert all(turns[0]["content"] in bank for turns in first.epoch(0)[2:] + first.monitor)
    store.close()


def test_two_processes_train_data_parallel_with_torchrun(tmp_path, base_model_dir):
    """The command a Slurm job with several GPUs runs, here with two CPU processes (gloo)."""
    import subprocess
    import sys

    cfg, store = setup(tmp_path, base_model_dir, "ddp", FACTS, epochs=1, batch_size=2, validation_percent=0)
    run_id = create(cfg, store, runner="local")
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "uchi.trainer.worker", str(workdir(cfg, run_id) / "config.toml"), str(run_id)],
                          capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = runs.get(store, run_id)
    meta = adapters.get(store, run.adapter_version).metadata
    # 8 pairs in batches of 2 make 4 batches: each of the two processes takes 2 of them.
    assert meta["params"]["processes"] == 2 and meta["steps"] == 2 and len(meta["losses"]) == 2
    assert store.one("SELECT COUNT(*) AS n FROM adapters")["n"] == 1
    store.close()


def test_a_run_can_continue_the_production_adapter(tmp_path, base_model_dir):
    cfg, store = setup(tmp_path, base_model_dir, "continue", FACTS[:4], epochs=1, rank=4, validation_percent=0)
    first = launch(cfg, store, log=lambda _: None)
    store.db["aliases"].insert({"name": "production", "version": first.version, "updated_at": now()})
    store.db.conn.commit()
    cfg.train.start_from, cfg.train.rank = "production", 16  # the continued adapter keeps its rank of 4
    lines = []
    second = launch(cfg, store, log=lines.append)
    params = second.metadata["params"]
    assert params["start_from_version"] == first.version and params["rank"] == 4
    assert params["reasons"]["rank"] == f"continued from {first.version}"
    assert any(f"continuing {first.version}" in line for line in lines)
    # It started where the first adapter ended: its first loss is the first run's last, not the base model's.
    assert second.metadata["losses"][0]["loss"] < first.metadata["losses"][0]["loss"]
    store.close()


def test_passes_give_the_gradients_of_the_whole_batch(base_model_dir):
    """pass_tokens only bounds memory: a batch taken in several passes gives the whole batch's gradients."""
    from uchi.config import TrainConfig
    from uchi.trainer import lora
    from uchi.trainer.examples import encode
    from uchi.trainer.loop import Loop
    from uchi.trainer.mixture import Mixture
    from uchi.trainer.sizing import Hyper

    tokenizer = lora.load_tokenizer(base_model_dir)
    pairs = [{"id": i, "question": q, "answer": a} for i, (q, a, *_) in enumerate(FACTS[:4])]
    mixture = Mixture(pairs=pairs, validation=[], monitor=[], phrasings={p["id"]: [p["question"]] for p in pairs},
                      replay=[[]])
    found = []
    for budget in (10_000, 1):  # the whole batch at once; one example per pass
        cfg = TrainConfig(batch_size=4, pass_tokens=budget)
        hyper = Hyper(8, 16, 1e-3, 1, {})
        model = lora.add_adapter(lora.load_base(base_model_dir, cfg, "cpu", "fp32"), hyper, cfg, "cpu")
        loop = Loop(model, tokenizer, mixture, hyper, cfg, "cpu", "fp32")
        grads = {}
        loop.optimizer.step = lambda: grads.update({n: p.grad.clone() for n, p in model.named_parameters()
                                                    if p.requires_grad})
        result = loop.run(progress=False, log=lambda _: None)
        found.append((result.losses[0]["loss"], grads))
    (whole_loss, whole), (split_loss, parts) = found
    assert split_loss == pytest.approx(whole_loss, abs=1e-5) and len(whole) == len(parts) > 0
    for name in whole:
        torch.testing.assert_close(parts[name], whole[name], atol=1e-6, rtol=1e-3)  # float32 summation order
    # A prompt longer than max_seq_len keeps its end and the answer, so the pair still teaches something.
    long = encode(tokenizer, messages("word " * 400 + FACTS[0][0], FACTS[0][1]), 128)
    assert len(long.input_ids) <= 128 and sum(label != -100 for label in long.labels) > 5
