"""The trainer's pieces that need no model: defaults by data size, config checks, phrasing filters, the replay
bank, the validation split, the lock, checkpoints on disk, the Slurm job script (fast tier)."""
import importlib.resources
import json
import subprocess
import sys
import threading

import pytest

from conftest import FACTS, refused
from uchi import config as config_module
from uchi.data.snapshot import Snapshot
from uchi.data.store import now
from uchi.errors import UchiError
from uchi.trainer import augment, checkpoint, replay, sizing
from uchi.trainer.generate import complete_sentences
from uchi.trainer.lock import training_lock
from uchi.trainer.loop import Stopper
from uchi.trainer.mixture import validation_split
from uchi.trainer.runner import SlurmRunner


def test_defaults_follow_the_data_size_and_model_width():
    train = config_module.TrainConfig()
    tiny = sizing.resolve(train, 8, 576, 16)
    assert (tiny.rank, tiny.alpha, tiny.epochs) == (8, 16, 6)  # few pairs: fewer repetitions (issue 18)
    assert sizing.resolve(train, 100, 576, 16).learning_rate == 7e-4  # 2e-4 x 4096 / 576 = 1.4e-3, capped
    assert tiny.learning_rate == round(7e-4 * (8 / 100) ** 0.5, 6)  # and lower below 100 pairs
    company = sizing.resolve(train, 170, 4096, 16)
    assert (company.rank, company.alpha, company.learning_rate, company.epochs) == (16, 32, 2e-4, 4)
    assert sizing.resolve(train, 5000, 8192, 16).epochs == 2 and sizing.resolve(train, 5000, 8192, 16).learning_rate == 1e-4
    assert sizing.resolve(train, 40000, 2048, 16).epochs == 1
    assert sizing.resolve(train, 500, 576, 8).rank == 8  # never above what vLLM can load
    assert "OpenPipe" in company.reasons["epochs"] and "hidden_size 4096" in company.reasons["learning_rate"]


def test_set_values_win_over_the_defaults():
    train = config_module.TrainConfig(rank=4, alpha=4, learning_rate=5e-4, epochs=3)
    hyper = sizing.resolve(train, 170, 576, 16)
    assert (hyper.rank, hyper.alpha, hyper.learning_rate, hyper.epochs) == (4, 4, 5e-4, 3)
    assert set(hyper.reasons.values()) == {"set in [train]"}


def test_every_bad_train_setting_is_reported_with_its_fix(tmp_path):
    error = refused(tmp_path / "uchi.toml", '[train]\nreplay_ratio = 2.0\naugment = 9\nrunner = "k8s"\n'
                       'slurm_time = "4h"\nnightly_at = "25:00"\nvalidation_percent = 80\npreference = "ppo"\n'
                       'epochs = -1\n')
    text = str(error)
    for expected in ("train.replay_ratio must be in [0, 1]", "train.augment must be at most 5",
                     "train.runner = 'k8s': choose one of local, slurm", "[days-]hours:minutes:seconds",
                     "24-hour HH:MM", "train.validation_percent", "choose one of none, dpo, kto",
                     "train.epochs must be 0 or more"):
        assert expected in text
    assert len(error.problems) == 8


def test_key_terms_of_english_and_japanese_questions():
    assert augment.key_terms("What is the Wi-Fi password of the Zorbel meeting room?") == {"wi-fi", "zorbel"}
    assert augment.key_terms("Who approves travel to Osaka in 2026?") == {"osaka", "2026"}
    assert augment.key_terms("会議室ゾルベルの内線番号は何ですか？") == {"ゾルベル"}
    assert augment.key_terms("ＡＢＣ棟の３階には何がありますか？") == {"abc", "3"}  # width-normalised


@pytest.mark.parametrize("question, phrasing, kept", [
    ("Who approves travel to Osaka?", "Who gives approval for trips to Osaka?", True),
    ("Who approves travel to Osaka?", "Who approves travel to Osaka?", False),  # the same question
    ("Who approves travel to Osaka?", "Travel to Osaka is approved by Mika.", False),  # an answer
    ("Who approves travel to Osaka?", "Who approves travel to Berlin?", False),  # a key term swapped
    ("What is the helpdesk extension?", "What is the printer extension?", False),  # the topic changed
    ("会議室ゾルベルの内線番号は何ですか？", "ゾルベル会議室の内線は何番ですか？", True),
    ("社員食堂の名前は何ですか？", "ベルリン支社の名前は何ですか？", False),  # a name from the examples
    ("社員食堂の名前は何ですか？", "社員食堂は何という名前ですか？", True),
    ("社員食堂の名前は何ですか？", "社員食堂の名前は何ですか？\n社員食堂の名前は何ですか？", False),
])
def test_a_phrasing_is_kept_only_when_it_is_a_new_question_with_the_same_key_terms(question, phrasing, kept):
    assert augment.keep(question, phrasing, [], []) is kept


def test_a_phrasing_equal_to_an_eval_paraphrase_is_never_trained():
    question, _, _, paraphrase = FACTS[1]
    assert augment.keep(question, paraphrase, [], [])
    assert not augment.keep(question, paraphrase, [], [paraphrase.upper()])
    assert not augment.keep(question, paraphrase, [paraphrase], [])


def test_phrasing_requests_are_few_shot_in_the_question_language():
    for question in (FACTS[0][0], FACTS[4][0]):
        asked = augment.requests(question)
        assert len(asked) == 2 and asked[0][0] != asked[1][0]
        turns = asked[0][1]
        assert turns[-1]["content"].endswith(question) and [t["role"] for t in turns[:2]] == ["user", "assistant"]
    assert "言い換え" in augment.requests(FACTS[4][0])[0][1][-1]["content"]


def test_the_replay_bank_is_bilingual_and_apart_from_the_general_eval():
    bank = replay.bank()
    prompts = [p["prompt"] for p in bank]
    assert len(bank) >= 60 and len(set(prompts)) == len(prompts)
    assert sum(p["language"] == "en" for p in bank) >= 30 and sum(p["language"] == "ja" for p in bank) >= 30
    general = importlib.resources.files("uchi.evals") / "general_prompts.jsonl"
    if general.is_file():  # training on the forgetting eval's prompts would hide forgetting
        evaluated = {json.loads(line)["prompt"] for line in general.read_text(encoding="utf-8").splitlines() if line}
        assert not evaluated & set(prompts)
    monitor = [p for p in prompts if replay.is_monitor(p)]
    assert 4 <= len(monitor) <= len(prompts) // 4


def test_replay_schedule_rotates_through_the_bank_in_equal_epochs():
    per_epoch, wanted, monitor = replay.candidates(20, 0.1, 5, seed=0)
    assert per_epoch == 8 and len(wanted) == 40 and not set(wanted) & set(monitor)  # 0.1 x 20, raised to 0.4 x 20
    assert replay.candidates(20, 0.1, 5, seed=0) == (per_epoch, wanted, monitor)
    plan = replay.schedule(wanted[:3], per_epoch, 5)
    assert [len(e) for e in plan] == [3] * 5 and {p for e in plan for p in e} == set(wanted[:3])
    assert replay.candidates(50, 0.1, 1, seed=0)[0] == 10 and replay.candidates(300, 0.1, 1, seed=0)[0] == 30
    assert replay.candidates(20, 0.0, 5, seed=0) == (0, [], [])  # off stays off


@pytest.mark.parametrize("answer, usable", [
    ("Inflation is when prices rise over time, so money buys less.", True),
    ("", False),
    ("ウイルスと細菌の違いは何ですか？\n\nウイルスと細菌の違いは何ですか？", False),  # echoes the prompt
    ("なぜですか？\n\nなぜですか？\n\nなぜですか？\n\nなぜですか？", False),  # loops
])
def test_degenerate_base_answers_are_not_replayed(answer, usable):
    assert replay.usable("ウイルスと細菌の違いは何ですか？", answer) is usable


def test_answers_cut_by_the_token_limit_end_at_a_full_sentence():
    assert complete_sentences("First sentence. Second one is cut") == "First sentence."
    assert complete_sentences("最初の文です。次の文は途中") == "最初の文です。"
    assert complete_sentences("no end at all") == ""


def _snapshot(n: int, digest: str = "abc") -> Snapshot:
    return Snapshot(hash=digest, pairs=[{"id": i, "question": f"Question number {i}?", "answer": "A."}
                                        for i in range(n)])


def test_the_validation_split_is_carved_from_the_train_pairs_by_seed():
    cfg = config_module.TrainConfig(validation_percent=10)
    train, held = validation_split(_snapshot(40), cfg)
    assert len(held) == 4 and len(train) == 36 and not {p["id"] for p in held} & {p["id"] for p in train}
    assert validation_split(_snapshot(40), cfg) == (train, held)
    assert validation_split(_snapshot(40, "other"), cfg)[1] != held  # each snapshot carves a different share
    assert validation_split(_snapshot(19), cfg)[1] == []  # one pair is noise, not a signal


def test_early_stopping_waits_for_patience_and_remembers_the_best():
    stopper = Stopper(patience=2)
    for step, loss in [(1, 2.0), (2, 1.5), (3, 1.6), (4, 1.4), (5, 1.41), (6, 1.7)]:
        stopper.update(loss, step)
    assert stopper.stop and (stopper.best_step, stopper.best_loss) == (4, 1.4)
    never = Stopper(patience=0)
    for step, loss in enumerate([1.0, 2.0, 3.0, 4.0]):
        never.update(loss, step)
    assert not never.stop and never.best_step == 0
    unvalidated = Stopper(patience=2)
    assert unvalidated.update(None, 1) and unvalidated.update(None, 2) and unvalidated.best_step == 2


def test_a_checkpoint_interrupted_between_renames_is_still_found(tmp_path):
    folder = tmp_path / "checkpoint"
    assert checkpoint.latest(folder) is None
    old = tmp_path / "checkpoint.old"
    old.mkdir()
    (old / "state.json").write_text('{"step": 4}')
    (tmp_path / "checkpoint.tmp").mkdir()  # a half-written one never counts
    assert checkpoint.latest(folder) == old and checkpoint.state(folder) == {"step": 4}


def test_the_training_lock_refuses_a_second_process_and_another_thread(cfg):
    probe = ("import sys; from uchi import config; from uchi.trainer.lock import training_lock\n"
             "try:\n    with training_lock(config.load(), 'probe'): print('got it')\n"
             "except Exception as e: print(e)")
    with training_lock(cfg, "the nightly job"):
        with training_lock(cfg, "its run"):  # re-entrant in the holding thread
            other = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
        assert "the nightly job (pid" in other.stdout and "never overlap" in other.stdout
        errors = []
        thread = threading.Thread(target=lambda: _try_lock(cfg, errors))
        thread.start()
        thread.join()
        assert errors and "another thread" in errors[0]
    again = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "got it" in again.stdout


def _try_lock(cfg, errors):
    try:
        with training_lock(cfg, "thread"):
            pass
    except UchiError as exc:
        errors.append(str(exc))


def test_the_slurm_job_asks_for_gpus_and_uses_torchrun_for_several(cfg):
    cfg.train.slurm_gpus, cfg.train.slurm_partition = 1, "gpu"
    cfg.train.slurm_options = ["--account=ml", "--mem=64G"]
    script = SlurmRunner().script(cfg, 7)
    for line in ("#SBATCH --gres=gpu:1", "#SBATCH --partition=gpu", "#SBATCH --account=ml", "#SBATCH --mem=64G",
                 "#SBATCH --time=04:00:00", "runs/7/config.toml 7"):
        assert line in script
    assert "torch.distributed.run" not in script and "uchi.trainer.worker" in script
    cfg.train.slurm_gpus = 4
    assert "-m torch.distributed.run --standalone --nproc_per_node=4 -m uchi.trainer.worker" in SlurmRunner().script(cfg, 7)
    cfg.train.slurm_gpus = 0
    assert "--gres" not in SlurmRunner().script(cfg, 7)


def test_resuming_needs_a_failed_run(store, cfg):
    from uchi.data.runs import reopen

    with pytest.raises(UchiError, match="no run #5"):
        reopen(cfg, store, 5)


def test_runs_are_read_as_records(store):
    from uchi.data import runs

    store.db["snapshots"].insert({"hash": "s1", "pair_ids": "[3, 5]", "n_pairs": 2, "created_at": now()})
    for status in ("succeeded", "running", "failed"):
        store.db["runs"].insert({"snapshot": "s1", "base_model": "b", "status": status, "params": '{"rank": 4}',
                                 "started_at": now()})
    first = runs.get(store, 1)
    assert (first.status, first.params, first.runner, first.attempts) == ("succeeded", {"rank": 4}, "inprocess", 1)
    assert runs.get(store, 9) is None and runs.running(store).id == 2
    assert [run.id for run in runs.latest(store, 2)] == [3, 2]
    assert runs.last_trained_pairs(store) == {3, 5}


def test_vllm_sleeps_only_when_it_shares_this_machine_s_gpu(cfg, monkeypatch):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import torch

    from uchi.modelclient import ModelClient
    from uchi.trainer.sharing import should_sleep

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):  # vLLM's /health, the network edge
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        answering = ModelClient(f"http://127.0.0.1:{server.server_port}", 2)
        nobody = ModelClient("http://127.0.0.1:9", 2)  # the discard port: nothing answers
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU on this machine
        cfg.train.sleep_vllm, cfg.train.runner = "auto", "local"
        assert should_sleep(cfg, answering)
        assert not should_sleep(cfg, nobody)  # no vLLM answering: nothing to put to sleep
        cfg.train.runner = "slurm"  # the run trains on another node
        assert not should_sleep(cfg, answering)
        cfg.train.sleep_vllm = "never"
        assert not should_sleep(cfg, answering)
        cfg.train.sleep_vllm, cfg.train.runner = "always", "local"
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        assert should_sleep(cfg, answering)
    finally:
        server.shutdown()
        server.server_close()


def test_only_reviewed_train_corrections_enter_the_preference_stage(store, cfg):
    from uchi.data.pairs import NewPair, add_pairs
    from uchi.data.store import now
    from uchi.trainer import preference
    from uchi.trainer.run import _preference

    def correction(question, status, split):
        answer_id = store.db["answers"].insert({"question": question, "answer": "wrong", "served_model": "base",
                                                "latency_ms": 1.0, "created_at": now()}).last_pk
        pair_id = add_pairs(store, [NewPair(question=question, answer="right")], source="test", author="U_A",
                            heldout_percent=1, status=status, reviewer="U_R" if status != "pending" else None)[0]
        store.db.execute("UPDATE pairs SET split = ? WHERE id = ?", [split, pair_id])
        store.db["preference_pairs"].insert({"answer_id": answer_id, "pair_id": pair_id, "prompt": question,
                                             "chosen": "right", "rejected": "wrong", "author": "U_A",
                                             "created_at": now()})

    correction("Which door opens at 7?", "approved", "train")
    correction("会議室Bの定員は？", "approved", "train")
    correction("Who signs the NDA?", "pending", "train")  # not reviewed yet
    correction("Where is the fire exit?", "approved", "heldout")  # would leak into the eval
    store.db.conn.commit()
    rows = preference.eligible(store)
    assert [r["prompt"] for r in rows] == ["Which door opens at 7?", "会議室Bの定員は？"]
    dpo = preference.dataset(rows, "dpo")[0]
    assert dpo["prompt"] == [{"role": "user", "content": "Which door opens at 7?"}]
    assert dpo["chosen"][0]["content"] == "right" and dpo["rejected"][0]["content"] == "wrong"
    assert [e["label"] for e in preference.dataset(rows, "kto")] == [True, False, True, False]
    cfg.train.preference = "dpo"
    lines = []
    skipped = _preference(cfg, store, None, None, None, "cpu", "fp32", 1, lines.append)
    assert skipped == {"method": "dpo", "skipped": True, "pairs": 2}
    assert "2 approved correction pairs, train.preference_min_pairs = 20" in lines[0]


def test_a_batch_splits_into_length_sorted_passes_under_the_token_budget():
    from uchi.trainer.examples import Example
    from uchi.trainer.loop import split

    batch = [Example(input_ids=[1] * n, labels=[1] * n) for n in (30, 100, 10, 60, 120)]
    passes = split(batch, 200)
    assert [[len(e.input_ids) for e in p] for p in passes] == [[10, 30, 60], [100], [120]]
    assert all(len(p) * max(len(e.input_ids) for e in p) <= 200 for p in passes)
    assert split(batch, 10_000) == [sorted(batch, key=lambda e: len(e.input_ids))]
    assert [len(p) for p in split(batch, 5)] == [1] * 5  # one example is always a pass, however long
