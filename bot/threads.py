"""A retrain's Slack thread: progress lines, then the eval report (summary with its buttons, and the file),
or the failure. `uchi retrain --slack-thread` (started by /retrain) and `uchi nightly` report through it;
both run outside the bot's process, so a bot restart never stops a run nor its reporting."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from uchi.bot import ballots, blocks, reports
from uchi.bot.messages import text
from uchi.bot.web import web_client
from uchi.config import Config
from uchi.data.store import Store
from uchi.errors import UchiError
from uchi.evals.result import EvalResult

log = logging.getLogger("uchi.bot")


@dataclass
class SlackThread:
    client: WebClient
    cfg: Config
    channel: str
    ts: str
    lang: str

    def progress(self, line: str) -> None:
        self.client.chat_postMessage(channel=self.channel, thread_ts=self.ts, text=blocks.safe(line))

    def report(self, result: EvalResult) -> None:
        with Store.open(self.cfg) as store:
            reports.post(self.client, store, self.lang, self.channel, self.ts, result)
            try:
                ballots.ask(self.client, self.cfg, store, self.lang, result.id)
            except (SlackApiError, UchiError) as exc:
                # The eval and its report stand; reviewers can still vote from the report's Compare blind.
                self.progress(f"could not message the reviewers for blind votes: {exc}")

    def failed(self, error: str) -> None:
        self.client.chat_postMessage(channel=self.channel, thread_ts=self.ts,
                                     text=text(self.lang, "retrain_failed", error=blocks.safe(error)[:500]))


def nightly_opener(cfg: Config, lang: str):
    """The nightly job's thread opener: a new thread in train.nightly_channel, when the bot is configured."""
    token = os.environ.get("SLACK_BOT_TOKEN", "").strip()
    if not (token and cfg.train.nightly_channel):
        return lambda count: None

    def open_thread(count: int) -> SlackThread:
        client = web_client(cfg, token)
        root = client.chat_postMessage(channel=cfg.train.nightly_channel, text=text(lang, "nightly_announce", n=count))
        return SlackThread(client, cfg, cfg.train.nightly_channel, root["ts"], lang)

    return open_thread


def start_retrain(cfg: Config, token: str, channel: str, ts: str, lang: str, user: str) -> subprocess.Popen:
    """`uchi retrain` for /retrain, in its own session: it outlives a bot restart and reports to the thread."""
    logs = cfg.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "uchi.cli"] + (["--config", str(cfg.source)] if cfg.source else []) + [
        "retrain", "--slack-thread", f"{channel}/{ts}", "--lang", lang, "--by", user]
    with open(logs / "retrain.log", "ab") as log:
        job = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True, cwd=os.getcwd(),
                               env=dict(os.environ, SLACK_BOT_TOKEN=token, PYTHONUNBUFFERED="1"))
    thread = SlackThread(web_client(cfg, token), cfg, channel, ts, lang)
    threading.Thread(target=_watch, args=(job, thread), name=f"uchi-retrain-{job.pid}", daemon=True).start()
    return job


def _watch(job: subprocess.Popen, thread: SlackThread) -> None:
    """Reap `uchi retrain` when it ends: an unreaped child stays a zombie, which still answers kill(pid, 0), so a
    run whose process died would look alive (data/runs.py reap_dead_runs) and refuse /retrain until the bot
    restarts. Killed by a signal, it could not say so itself: the thread hears it from here."""
    code = job.wait()
    if code < 0:
        try:
            thread.failed(f"the `uchi retrain` process (pid {job.pid}) was killed ({signal.Signals(-code).name}); "
                          "its log is logs/retrain.log in the state directory")
        except SlackApiError as exc:
            log.warning("could not tell the retrain thread that its process was killed: %s",
                        exc.response.get("error"))
