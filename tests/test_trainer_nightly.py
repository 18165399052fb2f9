"""`uchi nightly` and `uchi schedule install`: skipping says why, the lock keeps two jobs apart, the schedule
entries are right; and one real night (slow + vllm): train, evaluate through vLLM, post to a fake Slack."""
import subprocess
import sys

import pytest

from conftest import BENCHMARKS, FACTS, free_port, seed_facts
from slack_fake import fake_slack  # noqa: F401 (fixture)
from uchi import config as config_module
from uchi.cli import main
from uchi.data import runs, snapshot
from uchi.data.store import Store, now
from uchi.errors import UchiError
from uchi.pipeline import new_pairs, nightly
from uchi.trainer import schedule


def test_a_night_without_enough_new_pairs_is_skipped_and_says_why(store, cfg):
    row = nightly(cfg, store, None, log=lambda _: None)
    assert row["status"] == "skipped" and "no approved training pairs yet" in row["reason"]
    seed_facts(store, cfg)
    trained_now = len(snapshot.current(store).pairs)
    row = nightly(cfg, store, None, log=lambda _: None)
    assert (row["status"], row["new_pairs"]) == ("skipped", trained_now)
    assert f"{trained_now} new approved pairs" in row["reason"] and "nightly_min_new_pairs = 10" in row["reason"]
    assert [r["status"] for r in store.rows("SELECT status FROM nightly_runs ORDER BY id")] == ["skipped", "skipped"]


def test_new_pairs_are_counted_against_the_last_succeeded_run(store, cfg):
    seed_facts(store, cfg)
    snap = snapshot.current(store)
    older = snapshot.Snapshot(hash="older", pairs=snap.pairs[:3])
    snapshot.record(store, older)
    for status in ("succeeded", "failed"):
        store.db["runs"].insert({"snapshot": "older", "base_model": "b", "status": status, "params": "{}",
                                 "started_at": now()})
    assert new_pairs(store) == (len(snap.pairs) - 3, snap.hash)


def test_a_second_nightly_job_is_refused_while_one_runs(store, cfg):
    holder = subprocess.Popen([sys.executable, "-c",
                               "import time; from uchi import config; from uchi.trainer.lock import training_lock\n"
                               "with training_lock(config.load(), 'the nightly job'):\n"
                               "    print('held', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UchiError, match=rf"the nightly job \(pid {holder.pid}.*never overlap"):
            nightly(cfg, store, None, log=lambda _: None)
    finally:
        holder.kill()
        holder.wait()
    assert store.one("SELECT COUNT(*) AS n FROM nightly_runs")["n"] == 0


def test_uchi_nightly_from_the_command_line(capsys):
    assert main(["nightly"]) == 0
    assert "nightly: skipped: no approved training pairs yet" in capsys.readouterr().out


def test_schedule_entries_run_uchi_nightly_at_the_configured_time(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("UCHI_TRAIN_NIGHTLY_AT", "03:05")
    cfg = config_module.load()
    entry = schedule.cron_entry(cfg)
    assert entry.startswith("5 3 * * * ") and entry.endswith(f"# uchi-nightly {cfg.state_dir}")
    assert " nightly >> " in entry and str(cfg.state_dir / "logs" / "nightly.log") in entry
    assert main(["schedule", "install", "--unit-dir", str(tmp_path / "units")]) == 0
    timer = (tmp_path / "units" / "uchi-nightly.timer").read_text()
    service = (tmp_path / "units" / "uchi-nightly.service").read_text()
    assert "OnCalendar=*-*-* 03:05:00" in timer and "Persistent=true" in timer
    assert "ExecStart=" in service and service.split("ExecStart=")[1].split("\n")[0].endswith(" nightly")
    out = capsys.readouterr().out
    assert "systemctl --user enable --now uchi-nightly.timer" in out or "systemctl enable" in out
    assert main(["schedule", "install", "--print"]) == 0
    printed = capsys.readouterr().out
    assert "5 3 * * *" in printed and "[Timer]" in printed


def test_installing_into_a_missing_crontab_says_what_to_do(monkeypatch, capsys):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["schedule", "install", "--cron"]) == 2
    assert "crontab is not installed" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.vllm
def test_a_night_trains_while_vllm_sleeps_then_evaluates_and_posts(fake_slack, base_model_dir, monkeypatch):
    """vLLM (sleep mode) writes the run's replay answers and phrasings, sleeps while it trains, wakes for the
    eval; the report goes to the nightly channel of a fake Slack."""
    from uchi.bot.threads import nightly_opener
    from uchi.modelclient import ModelClient
    from uchi.serving.server import Server

    env = {"UCHI_SLACK_API_URL": fake_slack.api_url, "UCHI_SERVING_PORT": str(free_port()),
           "UCHI_SERVING_SLEEP_MODE": "1", "UCHI_SERVING_KV_CACHE_GIB": "1", "UCHI_MODEL_BASE": str(base_model_dir),
           "UCHI_TRAIN_NIGHTLY_CHANNEL": "C0NIGHTLY", "UCHI_TRAIN_NIGHTLY_MIN_NEW_PAIRS": "5",
           "UCHI_TRAIN_SLEEP_VLLM": "always", "UCHI_TRAIN_GENERATION_CACHE": "", "UCHI_TRAIN_EPOCHS": "3",
           "UCHI_TRAIN_LEARNING_RATE": "0.002", "UCHI_TRAIN_AUGMENT": "1", "UCHI_DATA_HELDOUT_PERCENT": "1",
           "UCHI_EVAL_DETECTABLE_GAIN": "0.6", "UCHI_EVAL_BENCHMARKS_DIR": str(BENCHMARKS),
           "UCHI_EVAL_BENCHMARK_ITEMS": "12"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-0000-test-token")
    cfg = config_module.load()
    with Server(cfg), Store.open(cfg) as store:
        client = ModelClient(cfg.serving.url, 120)
        seed_facts(store, cfg)
        store.db.execute("UPDATE pairs SET split = 'train'")
        store.db.conn.commit()
        asleep = []

        def log(line: str) -> None:
            if line.startswith("step "):  # a validation line, written while the run trains
                asleep.append(client.is_sleeping())

        row = nightly(cfg, store, client, open_thread=nightly_opener(cfg, "en"), log=log)
        assert row["status"] == "succeeded" and row["new_pairs"] == len(FACTS) and row["posted"] == 1
        assert asleep and all(asleep) and not client.is_sleeping()
        backends = {r["backend"] for r in store.rows("SELECT backend FROM generations")}
        assert backends == {"vllm"}  # generated before it slept
        run = runs.get(store, row["run_id"])
        assert store.one("SELECT * FROM evals WHERE id = ?", [row["eval_id"]])["adapter_version"] == run.adapter_version
        posts = fake_slack.called("chat.postMessage", lambda a: a["channel"] == "C0NIGHTLY")
        assert "8 new approved pairs" in posts[0].args["text"]
        thread = [p.args.get("text") or "" for p in posts if p.args.get("thread_ts") == posts[0].response["ts"]]
        assert any("sleeps while run" in t for t in thread) and any("is awake again" in t for t in thread)
        assert fake_slack.called("files.completeUploadExternal")  # the report file
        again = nightly(cfg, store, client, open_thread=nightly_opener(cfg, "en"), log=log)
        assert again["status"] == "skipped" and "0 new approved pairs" in again["reason"]
