"""Retraining: the approved pairs into a new adapter, then its eval, one at a time.

Used by /retrain and meant for the nightly job as well:

    with exclusive(cfg, store):
        result = retrain(cfg, store, client, progress=print)

`progress` receives one line per step (run started, adapter written, each system evaluated).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable

from uchi.bot.errors import BotError
from uchi.bot.messages import text
from uchi.config import Config
from uchi.data.store import Store
from uchi.serving.client import ModelClient

# A run is process-wide work (it uses every core), and an eval runs after the run row is finished:
# this lock covers both, the runs table covers other processes (`uchi train`).
_lock = threading.Lock()
_phase = {"what": ""}


class Busy(BotError):
    def __init__(self, run: dict | None, phase: str):
        self.run, self.phase = run, phase
        super().__init__("retrain_busy")

    def render(self, lang: str) -> str:
        what = (text(lang, "retrain_busy_run", run=self.run["id"], started=self.run["started_at"][:16])
                if self.run else self.phase)
        return text(lang, "retrain_busy", what=what)


def in_progress(cfg: Config, store: Store) -> Busy | None:
    # The trainer (torch) loads on the first /retrain, not when the bot starts.
    from uchi.trainer.run import reap_dead_runs, running

    reap_dead_runs(store, cfg)
    run = running(store)
    if run is not None or _lock.locked():
        return Busy(run, _phase["what"] or "starting")
    return None


@contextmanager
def exclusive(cfg: Config, store: Store):
    """Hold the one retraining slot, or raise Busy saying which run holds it."""
    busy = in_progress(cfg, store)
    if busy is not None or not _lock.acquire(blocking=False):
        raise busy or Busy(None, _phase["what"] or "starting")
    try:
        yield
    finally:
        _phase["what"] = ""
        _lock.release()


def retrain(cfg: Config, store: Store, client: ModelClient, progress: Callable[[str], None]) -> dict:
    """Train, then evaluate against production; returns the eval result (scores, gate, report path)."""
    from uchi.evals.harness import evaluate
    from uchi.trainer.run import train_snapshot

    _phase["what"] = "training"
    adapter = train_snapshot(cfg, store, progress=False, log=progress)
    _phase["what"] = f"evaluating {adapter['version']}"
    return evaluate(cfg, store, client, adapter["version"], log=progress)
