"""`uchi nightly`: train and evaluate when enough new approved pairs arrived since the last run, and post the
eval report to Slack when the bot is configured. Meant for cron or a systemd timer (`uchi schedule install`).

The training lock keeps two nightly jobs (or a nightly job and `uchi train`) from overlapping. Training and
evaluation are the bot's own /retrain (uchi.bot.retrain), and the report is the one /retrain posts
(uchi.bot.reports), so a night's run reads the same as one an admin started. Each night is a row in
nightly_runs: trained, skipped (and why) or failed.
"""
from __future__ import annotations

import json
import os

from uchi.config import Config
from uchi.data import snapshot as snapshots
from uchi.data.store import Store, now
from uchi.errors import UchiError
from uchi.trainer.lock import training_lock

ANNOUNCE = {"en": "Nightly training: {n} new approved pairs since the last run. Progress in this thread.",
            "ja": "夜間学習：前回の学習から承認されたペアが {n} 件増えました。進捗はこのスレッドに投稿します。"}
FAILED = {"en": "Nightly training failed: {error}", "ja": "夜間学習に失敗しました：{error}"}


def new_pairs(store: Store) -> tuple[int, str]:
    """How many approved train pairs the last succeeded run did not train on, and the current snapshot hash."""
    snap = snapshots.current(store)
    last = store.one("SELECT s.pair_ids FROM runs r JOIN snapshots s ON s.hash = r.snapshot "
                     "WHERE r.status = 'succeeded' ORDER BY r.id DESC LIMIT 1")
    trained = set(json.loads(last["pair_ids"])) if last else set()
    return sum(p["id"] not in trained for p in snap.pairs), snap.hash


def language(store: Store) -> str:
    """The report's language: the one most approved pairs are in."""
    counts = {r["language"]: r["n"] for r in store.rows(
        "SELECT language, COUNT(*) AS n FROM pairs WHERE status = 'approved' GROUP BY language")}
    return "ja" if counts.get("ja", 0) > counts.get("en", 0) else "en"


def slack(cfg: Config):
    """A Slack Web API client when the bot is configured for nightly reports, else None."""
    token = os.environ.get("SLACK_BOT_TOKEN", "").strip()
    if not (token and cfg.train.nightly_channel):
        return None
    from uchi.bot.web import web_client

    return web_client(cfg, token)


def nightly(cfg: Config, store: Store, model_client, *, slack_client=None, log=print) -> dict:
    """One night: skipped, or trained + evaluated (+ posted). Returns its nightly_runs row."""
    with training_lock(cfg, "the nightly job"):
        row_id = store.db["nightly_runs"].insert({"status": "running", "started_at": now()}).last_pk
        try:
            count, snapshot_hash = new_pairs(store)
        except UchiError as exc:
            return _finish(store, row_id, "skipped", str(exc), log)
        store.db["nightly_runs"].update(row_id, {"new_pairs": count})
        if count < cfg.train.nightly_min_new_pairs:
            return _finish(store, row_id, "skipped", f"{count} new approved pairs since the last run (snapshot "
                           f"{snapshot_hash}); train.nightly_min_new_pairs = {cfg.train.nightly_min_new_pairs}", log)
        return _train_and_report(cfg, store, model_client, slack_client, row_id, count, log)


def _train_and_report(cfg, store, model_client, slack_client, row_id, count, log) -> dict:
    from uchi.bot import blocks, reports
    from uchi.bot.retrain import exclusive, retrain

    lang = language(store)
    root = None
    if slack_client is not None:
        root = slack_client.chat_postMessage(channel=cfg.train.nightly_channel, text=ANNOUNCE[lang].format(n=count))

    def progress(line: str) -> None:
        log(line)
        if root is not None:
            slack_client.chat_postMessage(channel=cfg.train.nightly_channel, thread_ts=root["ts"],
                                          text=blocks.safe(line))

    try:
        with exclusive(cfg, store):
            result = retrain(cfg, store, model_client, progress)
    except Exception as exc:
        if root is not None:
            slack_client.chat_postMessage(channel=cfg.train.nightly_channel, thread_ts=root["ts"],
                                          text=FAILED[lang].format(error=blocks.safe(str(exc))[:500]))
        _finish(store, row_id, "failed", str(exc)[:2000], log)
        raise
    run_id = store.adapter(result["version"])["run_id"]
    store.db["nightly_runs"].update(row_id, {"run_id": run_id, "eval_id": result["id"]})
    if root is not None:
        reports.post(slack_client, store, lang, cfg.train.nightly_channel, root["ts"], result)
        store.db["nightly_runs"].update(row_id, {"posted": 1})
    verdict = "passed" if result["passed"] else "failed"
    return _finish(store, row_id, "succeeded", f"{result['version']} trained on {count} new pairs; gate {verdict}; "
                   f"report {result['report_path']}", log)


def _finish(store: Store, row_id: int, status: str, reason: str, log) -> dict:
    store.db["nightly_runs"].update(row_id, {"status": status, "reason": reason, "finished_at": now()})
    log(f"nightly: {status}: {reason}")
    return store.one("SELECT * FROM nightly_runs WHERE id = ?", [row_id])
