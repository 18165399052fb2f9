"""A run: train the current snapshot into an immutable adapter version and register it.

The adapter is written under adapters/.partial/ and renamed into place only when complete, and the
registry row is inserted after the rename, so a killed run never leaves a half-written adapter in
the registry; the next run marks it failed.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from uchi.config import Config
from uchi.data import snapshot as snapshots
from uchi.data.store import Store, now
from uchi.trainer import base
from uchi.trainer.lora import device_and_precision, load_model, train


def adapters_dir(cfg: Config) -> Path:
    return cfg.state_dir / "adapters"


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


def reap_dead_runs(store: Store, cfg: Config) -> None:
    """Mark runs whose process is gone as failed and delete their partial output."""
    for run in store.rows("SELECT id, pid FROM runs WHERE status = 'running'"):
        if run["pid"] != os.getpid() and not _alive(run["pid"]):
            store.db["runs"].update(run["id"], {"status": "failed", "finished_at": now(),
                                                "error": "the training process died before finishing"})
            shutil.rmtree(adapters_dir(cfg) / ".partial" / f"run-{run['id']}", ignore_errors=True)


def running(store: Store) -> dict | None:
    return store.one("SELECT * FROM runs WHERE status = 'running' ORDER BY id DESC LIMIT 1")


def environment() -> dict:
    import peft
    import torch
    import transformers

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, timeout=5).stdout.strip()
    except OSError:
        commit = ""
    return {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__, "machine": platform.machine(), "processor": platform.processor(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "code_version": commit}


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def train_snapshot(cfg: Config, store: Store, *, progress: bool = True, log=print) -> dict:
    """Train the approved train pairs into a new adapter; returns its registry row."""
    base_path = base.resolve(cfg)
    snap = snapshots.current(store)
    snapshots.record(store, snap)
    reap_dead_runs(store, cfg)
    device, precision = device_and_precision(cfg.train)
    params = dataclasses.asdict(cfg.train) | {"device": device, "precision": precision}
    run_id = store.db["runs"].insert({"snapshot": snap.hash, "base_model": cfg.model.base, "status": "running",
                                      "params": json.dumps(params), "pid": os.getpid(),
                                      "started_at": now()}).last_pk
    partial = adapters_dir(cfg) / ".partial" / f"run-{run_id}"
    log(f"run {run_id}: {len(snap.pairs)} approved train pairs (snapshot {snap.hash}) on {device}/{precision}, "
        f"{cfg.train.epochs} epochs, LoRA r={cfg.train.rank}, quantization={cfg.train.quantization}")
    try:
        model, tokenizer = load_model(base_path, cfg.train, device, precision)
        result = train(model, tokenizer, [snapshots.messages(p["question"], p["answer"]) for p in snap.pairs],
                       cfg.train, device, precision, progress=progress)
        model.save_pretrained(partial)
        version = f"v{run_id}-{_file_hash(partial / 'adapter_model.safetensors')[:8]}"
        metadata = {"version": version, "run_id": run_id, "base_model": cfg.model.base,
                    "base_path": str(base_path), "snapshot": snap.hash, "n_pairs": len(snap.pairs),
                    "params": params, "losses": result.losses, "seconds": result.seconds,
                    "trainable_params": result.trainable_params, "environment": environment(),
                    "created_at": now()}
        (partial / "uchi.json").write_text(json.dumps(metadata, indent=1, ensure_ascii=False))
        final = adapters_dir(cfg) / version
        os.replace(partial, final)
        with store.transaction():
            store.db["adapters"].insert({"version": version, "run_id": run_id, "snapshot": snap.hash,
                                         "base_model": cfg.model.base, "path": str(final),
                                         "metadata": json.dumps(metadata, ensure_ascii=False), "created_at": now()})
            store.db["runs"].update(run_id, {"status": "succeeded", "adapter_version": version,
                                             "finished_at": now()})
    except BaseException as exc:
        store.db["runs"].update(run_id, {"status": "failed", "finished_at": now(), "error": repr(exc)[:2000]})
        shutil.rmtree(partial, ignore_errors=True)
        raise
    first, last = result.losses[0]["loss"], result.losses[-1]["loss"]
    log(f"run {run_id}: adapter {version} in {result.seconds:.0f}s, loss {first:.3f} -> {last:.3f}")
    return store.adapter(version)
