"""The training lock: two runs (or nightly jobs) never overlap on one state directory.

An exclusive flock on <state>/train.lock, which the kernel drops when its holder dies, so a killed run
never leaves a stale lock. Re-entrant within one thread (the nightly job holds it around the run it
starts); another thread or process is refused at once, told who holds it.
"""
from __future__ import annotations

import fcntl
import json
import os
import threading
from contextlib import contextmanager
from datetime import datetime, timezone

from uchi.config import Config
from uchi.errors import UchiError

_thread_lock = threading.RLock()
_held = {"depth": 0, "handle": None}


def path(cfg: Config):
    return cfg.state_dir / "train.lock"


def holder(cfg: Config) -> dict | None:
    try:
        return json.loads(path(cfg).read_text() or "null")
    except (OSError, ValueError):
        return None


def held_by(cfg: Config) -> dict | None:
    """Who holds the lock now (its recorded pid, what and since), or None when it is free."""
    if not path(cfg).exists():
        return None
    with open(path(cfg), "a+") as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return holder(cfg) or {"what": _describe(None)}
        fcntl.flock(probe, fcntl.LOCK_UN)
    return None


@contextmanager
def training_lock(cfg: Config, what: str):
    if not _thread_lock.acquire(blocking=False):
        raise UchiError(f"another thread of this process is training ({_describe(holder(cfg))}); wait for it")
    try:
        if _held["depth"] == 0:
            _held["handle"] = _take(cfg, what)
        _held["depth"] += 1
        try:
            yield
        finally:
            _held["depth"] -= 1
            if _held["depth"] == 0:
                _held["handle"].close()  # closing the file releases the flock
                _held["handle"] = None
    finally:
        _thread_lock.release()


def _take(cfg: Config, what: str):
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    handle = open(path(cfg), "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UchiError(f"{_describe(holder(cfg))} holds {path(cfg)}; two runs never overlap: wait for it to "
                        "finish (`uchi train` resumes a killed one with --resume RUN)") from None
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"pid": os.getpid(), "what": what,
                             "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
    handle.flush()
    return handle


def _describe(info: dict | None) -> str:
    return f"{info['what']} (pid {info['pid']}, since {info['since']})" if info else "another training run"
