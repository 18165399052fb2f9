"""The runs table: one row per training run (snapshot, frozen configuration, runner, process, status), and
the folders a run writes. Creating, reading, reopening, failing and reaping runs happen here and nowhere else,
with no torch import, so the bot and the CLI can ask about runs without loading the trainer."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from uchi import basemodel
from uchi.config import Config
from uchi.data import snapshot as snapshots
from uchi.data.store import Store, now
from uchi.errors import UchiError

LOG_TAIL = 30


@dataclass(frozen=True)
class Run:
    """A run as the runs table held it when read; `params` is its frozen training configuration."""
    id: int
    snapshot: str
    base_model: str
    status: str  # running, succeeded, failed
    params: dict
    pid: int | None
    adapter_version: str | None
    error: str | None
    started_at: str
    finished_at: str | None
    runner: str  # inprocess, local, slurm
    job_id: str | None
    host: str | None
    log_path: str | None
    checkpoint_step: int
    attempts: int


def _runs(store: Store, where: str = "", params=(), *, tail: str = "ORDER BY id") -> list[Run]:
    rows = store.rows(f"SELECT * FROM runs {where} {tail}", params)
    return [Run(**(row | {"params": json.loads(row["params"])})) for row in rows]


def get(store: Store, run_id: int) -> Run | None:
    found = _runs(store, "WHERE id = ?", [run_id])
    return found[0] if found else None


def running(store: Store) -> Run | None:
    found = _runs(store, "WHERE status = 'running'", tail="ORDER BY id DESC LIMIT 1")
    return found[0] if found else None


def latest(store: Store, n: int) -> list[Run]:
    """The n newest runs, newest first."""
    return _runs(store, tail=f"ORDER BY id DESC LIMIT {int(n)}")


def last_trained_pairs(store: Store) -> set[int]:
    """The pair ids the last succeeded run trained on (none before the first)."""
    last = store.one("SELECT s.pair_ids FROM runs r JOIN snapshots s ON s.hash = r.snapshot "
                     "WHERE r.status = 'succeeded' ORDER BY r.id DESC LIMIT 1")
    return set(json.loads(last["pair_ids"])) if last else set()


def adapters_dir(cfg: Config) -> Path:
    return cfg.state_dir / "adapters"


def workdir(cfg: Config, run_id: int) -> Path:
    return cfg.state_dir / "runs" / str(run_id)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def log_tail(path: str | None, lines: int = LOG_TAIL) -> str:
    if not path or not Path(path).is_file():
        return ""
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])


def fail(store: Store, cfg: Config, run: Run, reason: str) -> None:
    """Mark a run failed with its reason and the end of its log; its checkpoints stay for --resume."""
    resumable = _has_checkpoint(workdir(cfg, run.id) / "checkpoint")
    hint = f"; continue it with `uchi train --resume {run.id}`" if resumable else ""
    tail = log_tail(run.log_path)
    error = f"{reason}{hint}" + (f"\n--- last lines of {run.log_path} ---\n{tail}" if tail else "")
    store.db["runs"].update(run.id, {"status": "failed", "finished_at": now(), "error": error[-4000:]})
    shutil.rmtree(adapters_dir(cfg) / ".partial" / f"run-{run.id}", ignore_errors=True)


def reap_dead_runs(store: Store, cfg: Config) -> None:
    """Mark runs whose process on this host is gone as failed (a Slurm job's runner watches it instead)."""
    me = socket.gethostname()
    for run in _runs(store, "WHERE status = 'running'"):
        here = run.host == me or (run.host is None and run.runner != "slurm")
        if here and run.pid != os.getpid() and not _alive(run.pid):
            fail(store, cfg, run, "the training process died before finishing")


def create(cfg: Config, store: Store, runner: str) -> int:
    """Record a new run of the current snapshot; its configuration is frozen in runs/<id>/config.toml."""
    basemodel.resolve(cfg)
    snap = snapshots.current(store)
    snapshots.record(store, snap)
    reap_dead_runs(store, cfg)
    params = dataclasses.asdict(cfg.train)
    if cfg.train.start_from == "production":
        params["start_from_version"] = store.alias("production")
    run_id = store.db["runs"].insert({"snapshot": snap.hash, "base_model": cfg.model.base, "status": "running",
                                      "params": json.dumps(params), "pid": os.getpid(), "host": socket.gethostname(),
                                      "runner": runner, "started_at": now()}).last_pk
    folder = workdir(cfg, run_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(cfg.as_toml())
    store.db["runs"].update(run_id, {"log_path": str(folder / "train.log")})
    return run_id


def reopen(cfg: Config, store: Store, run_id: int) -> Run:
    """A failed (killed) run made ready to continue from its last checkpoint."""
    reap_dead_runs(store, cfg)
    run = get(store, run_id)
    if run is None:
        raise UchiError(f"no run #{run_id}; list runs with `uchi train --list`")
    if run.status != "failed":
        raise UchiError(f"run #{run_id} is {run.status}; only a failed (killed) run can be resumed")
    if not (workdir(cfg, run_id) / "config.toml").is_file():
        raise UchiError(f"run #{run_id} predates resumable runs (no {workdir(cfg, run_id) / 'config.toml'}); "
                        "start a new one with `uchi train`")
    store.db["runs"].update(run_id, {"status": "running", "error": None, "finished_at": None,
                                     "pid": os.getpid(), "host": socket.gethostname(),
                                     "attempts": run.attempts + 1})
    return get(store, run_id)


def _has_checkpoint(folder: Path) -> bool:
    # The trainer's checkpoint module (torch) keeps a live folder and, mid-rename, an ".old" one.
    return any((candidate / "state.json").is_file() for candidate in (folder, folder.with_name(folder.name + ".old")))
