"""The loop's one orchestration: train the approved pairs, evaluate the adapter against production, report.

`uchi retrain`, Slack's /retrain (which starts `uchi retrain` as its own process), `uchi nightly` and
`uchi demo` all come through here. Training goes through the configured runner (a child process here, an
sbatch job on Slurm), exactly as `uchi train` does, and the training lock is held from the run's start to
the end of its eval, so two retrains never interleave. Where the progress and the report go is passed in
(a `Thread`): the bot passes a Slack thread; the orchestration knows nothing of Slack.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from uchi.config import Config
from uchi.data import adapters, snapshot
from uchi.data.runs import last_trained_pairs, reap_dead_runs, running
from uchi.data.store import Store, now
from uchi.errors import UchiError
from uchi.evals import gate
from uchi.evals.harness import evaluate
from uchi.evals.result import EvalResult
from uchi.language import LANGUAGES
from uchi.modelclient import ModelClient
from uchi.trainer import lock
from uchi.trainer.runner import launch


class Thread(Protocol):
    """Where one retrain reports: a line per step, then the eval result, or the failure."""

    def progress(self, line: str) -> None: ...

    def report(self, result: EvalResult) -> None: ...

    def failed(self, error: str) -> None: ...


@dataclass
class Busy:
    """What holds the training slot: a running run, or (between a run and its eval) the lock's holder."""
    run_id: int | None
    started: str
    what: str


def busy(cfg: Config, store: Store) -> Busy | None:
    reap_dead_runs(store, cfg)
    run = running(store)
    if run is not None:
        return Busy(run.id, run.started_at[:16], f"run #{run.id}")
    holder = lock.held_by(cfg)
    return Busy(None, holder.get("since", ""), holder["what"]) if holder else None


def retrain(cfg: Config, store: Store, client: ModelClient, progress: Callable[[str], None], *,
            both_settings: bool = True) -> EvalResult:
    """Train the current snapshot through the runner, then evaluate it; returns the eval result.
    `both_settings=False` judges only what production serves (retrieval on), skipping the other setting."""
    with lock.training_lock(cfg, "a retrain (train, then evaluate)"):
        adapter = launch(cfg, store, log=progress)
        return evaluate(cfg, store, client, adapter.version, log=progress, both_settings=both_settings)


def retrain_and_report(cfg: Config, store: Store, client: ModelClient, thread: Thread | None,
                       log: Callable[[str], None] = print) -> EvalResult:
    def progress(line: str) -> None:
        log(line)
        if thread is not None:
            thread.progress(line)

    try:
        result = retrain(cfg, store, client, progress)
    except Exception as exc:
        if thread is not None:
            thread.failed(str(exc))
        raise
    if thread is not None:
        thread.report(result)
    return result


def new_pairs(store: Store) -> tuple[int, str]:
    """How many approved train pairs the last succeeded run did not train on, and the current snapshot hash."""
    snap = snapshot.current(store)
    trained = last_trained_pairs(store)
    return sum(p["id"] not in trained for p in snap.pairs), snap.hash


def language(store: Store) -> str:
    """A report's language when nobody asked for it: the one most approved pairs are in."""
    counts = {r["language"]: r["n"] for r in store.rows(
        "SELECT language, COUNT(*) AS n FROM pairs WHERE status = 'approved' GROUP BY language")}
    return max(LANGUAGES, key=lambda lang: (counts.get(lang, 0), lang == "en"))


def nightly(cfg: Config, store: Store, client: ModelClient | None, *,
            open_thread: Callable[[int], Thread | None] = lambda count: None, log=print) -> dict:
    """One night: skipped (and why), or retrained and reported. `open_thread(new pairs)` starts the night's
    report thread, or returns None. Returns the night's nightly_runs row."""
    with lock.training_lock(cfg, "the nightly job"):
        row_id = store.db["nightly_runs"].insert({"status": "running", "started_at": now()}).last_pk
        try:
            count, snapshot_hash = new_pairs(store)
        except UchiError as exc:
            return _finish(store, row_id, "skipped", str(exc), log)
        store.db["nightly_runs"].update(row_id, {"new_pairs": count})
        if count < cfg.train.nightly_min_new_pairs:
            return _finish(store, row_id, "skipped", f"{count} new approved pairs since the last run (snapshot "
                           f"{snapshot_hash}); train.nightly_min_new_pairs = {cfg.train.nightly_min_new_pairs}", log)
        thread = open_thread(count)
        try:
            result = retrain_and_report(cfg, store, client, thread, log)
        except Exception as exc:
            _finish(store, row_id, "failed", str(exc)[:2000], log)
            raise
        run_id = adapters.get(store, result.version).run_id
        store.db["nightly_runs"].update(row_id, {"run_id": run_id, "eval_id": result.id,
                                                 "posted": int(thread is not None)})
        verdict = gate.stored_state(result.checks)  # pending: waits for blind votes or a canary
        return _finish(store, row_id, "succeeded", f"{result.version} trained on {count} new pairs; gate "
                       f"{verdict}; report {result.report_path}", log)


def _finish(store: Store, row_id: int, status: str, reason: str, log) -> dict:
    store.db["nightly_runs"].update(row_id, {"status": status, "reason": reason, "finished_at": now()})
    log(f"nightly: {status}: {reason}")
    return store.one("SELECT * FROM nightly_runs WHERE id = ?", [row_id])
