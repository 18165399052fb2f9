"""A run: train the current snapshot into an immutable adapter version and register it.

uchi.data.runs records the run and the exact configuration it trains with (runs/<id>/config.toml); `execute`
trains it inside a runner's worker process (uchi.trainer.worker), resuming from the run's last checkpoint when
there is one.
The adapter is written under adapters/.partial/ and renamed into place only when complete, and the registry
row is inserted after the rename, so a killed run never leaves a half-written adapter in the registry; the
next run marks it failed, and `uchi train --resume RUN` continues it.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from uchi import basemodel
from uchi.config import Config
from uchi.data import adapters
from uchi.data import snapshot as snapshots
from uchi.data.adapters import Adapter
from uchi.data.runs import Run, adapters_dir, fail, get, workdir
from uchi.data.store import Store, now
from uchi.trainer import curves, distributed, lora, sizing
from uchi.trainer.generate import Cache, LocalGenerator, model_id, server_generator
from uchi.trainer.loop import Loop
from uchi.trainer.mixture import build


def environment() -> dict:
    import accelerate
    import bitsandbytes
    import peft
    import torch
    import transformers
    import trl

    try:
        git = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True, cwd=Path(__file__).parent,
                                        timeout=10).stdout.strip()
        commit, dirty = git("rev-parse", "HEAD"), bool(git("status", "--porcelain", "--", "."))
    except (OSError, subprocess.TimeoutExpired):
        commit, dirty = "", False
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__, "trl": trl.__version__, "accelerate": accelerate.__version__,
            "bitsandbytes": bitsandbytes.__version__, "machine": platform.machine(),
            "processor": platform.processor(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cuda": gpus[0] if gpus else None, "gpus": gpus, "host": socket.gethostname(),
            "code_version": commit + ("+dirty" if dirty else "")}


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _start_from(cfg: Config, store: Store, params: dict) -> tuple[str | None, Path | None]:
    version = params.get("start_from_version")
    if cfg.train.start_from != "production" or not version:
        return None, None
    return version, Path(adapters.get(store, version).path)


def execute(cfg: Config, store: Store, run_id: int, *, progress: bool = True, log=print) -> Adapter | None:
    """Train run_id to its end (from its last checkpoint, if any) and register its adapter (None off rank 0)."""
    world = distributed.world()
    run = get(store, run_id)
    if world.main:
        store.db["runs"].update(run_id, {"pid": os.getpid(), "host": socket.gethostname()})
    try:
        adapter = _train(cfg, store, run, world, progress, log)
    except BaseException as exc:
        if world.main:
            fail(store, cfg, get(store, run_id), repr(exc)[:2000])
        raise
    finally:
        distributed.stop(world)
    return adapter


def _train(cfg: Config, store: Store, run: Run, world, progress: bool, log) -> Adapter | None:
    base_path = basemodel.resolve(cfg)
    snap = snapshots.load(store, run.snapshot)
    device, precision = lora.device_and_precision(cfg.train)
    distributed.start(world, device)
    device = world.device(device)
    hyper = sizing.resolve(cfg.train, len(snap.pairs), sizing.hidden_size(base_path), cfg.serving.max_lora_rank)
    params = run.params
    start_version, start_path = _start_from(cfg, store, params)
    tokenizer = lora.load_tokenizer(base_path)
    model = lora.load_base(base_path, cfg.train, device, precision)
    cache = Cache.open(cfg, store, model_id(cfg, base_path))
    make_generator = lambda: server_generator(cfg) or LocalGenerator(model, tokenizer)
    if not world.main:
        distributed.barrier(world)  # rank 0 fills the generation cache first; the others then only read it
    mixture = build(store, snap, cfg.train, hyper.epochs, cache, make_generator, cfg.retrieval)
    if world.main:
        distributed.barrier(world)
    log(f"run {run.id}: {len(snap.pairs)} approved train pairs (snapshot {snap.hash}) on {device}/{precision}, "
        f"LoRA r={hyper.rank} alpha={hyper.alpha} lr={hyper.learning_rate:g}, at most {hyper.epochs} epochs, "
        f"quantization={cfg.train.quantization}" + (f", continuing {start_version}" if start_version else ""))
    log(f"run {run.id}: data {json.dumps(mixture.stats)}")
    model = lora.add_adapter(model, hyper, cfg.train, device, start_path)
    if start_path is not None:  # a continued adapter keeps its own shape
        continued = model.peft_config["default"]
        hyper.rank, hyper.alpha = continued.r, continued.lora_alpha
        hyper.reasons["rank"] = hyper.reasons["alpha"] = f"continued from {start_version}"
    loop = Loop(model, tokenizer, mixture, hyper, cfg.train, device, precision, workdir(cfg, run.id), world)
    result = loop.run(progress=progress, log=log, on_validation=lambda point: _record(store, run.id, point))
    if result.stopped_early:
        log(f"run {run.id}: stopped early: {result.stopped_early}")
    preference = _preference(cfg, store, model, tokenizer, hyper, device, precision, run.id, log)
    if not world.main:
        return None
    resolved = params | hyper.as_dict() | {
        "device": device, "precision": precision, "optimizer": lora.optimizer_name(cfg.train, device),
        "gradient_checkpointing": lora.gradient_checkpointing(cfg.train, device), "processes": world.size}
    return _register(cfg, store, run, model, result, mixture, resolved, base_path, snap, preference, log)


def _record(store: Store, run_id: int, point: dict) -> None:
    with store.transaction():
        store.db["run_validations"].insert({"run_id": run_id, **point, "best": int(point["best"]),
                                            "created_at": now()}, replace=True)
        store.db["runs"].update(run_id, {"checkpoint_step": point["step"]})


def _preference(cfg: Config, store: Store, model, tokenizer, hyper, device, precision, run_id, log) -> dict | None:
    if cfg.train.preference == "none":
        return None
    from uchi.trainer import preference

    rows = preference.eligible(store)
    if len(rows) < cfg.train.preference_min_pairs:
        log(f"run {run_id}: {cfg.train.preference} stage skipped: {len(rows)} approved correction pairs, "
            f"train.preference_min_pairs = {cfg.train.preference_min_pairs}")
        return {"method": cfg.train.preference, "skipped": True, "pairs": len(rows)}
    # A tenth of the SFT learning rate: the stage nudges what SFT taught rather than retraining it.
    return preference.stage(model, tokenizer, rows, cfg.train, hyper.learning_rate / 10, device, precision,
                            workdir(cfg, run_id), log)


def _register(cfg, store, run, model, result, mixture, params, base_path, snap, preference, log) -> Adapter:
    run_id = run.id
    partial = adapters_dir(cfg) / ".partial" / f"run-{run_id}"
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial, selected_adapters=["default"])
    version = f"v{run_id}-{_file_hash(partial / 'adapter_model.safetensors')[:8]}"
    curves.plot(partial / "loss_curves.png", result.losses, result.validations, result.best_step,
                f"{version}: {snap.hash}, {len(snap.pairs)} pairs")
    real = result.tokens + result.padding_tokens
    metadata = {"version": version, "run_id": run_id, "base_model": cfg.model.base, "base_path": str(base_path),
                "snapshot": snap.hash, "n_pairs": len(snap.pairs), "seed": cfg.train.seed, "params": params,
                "data": mixture.stats, "losses": result.losses, "validations": result.validations,
                "best_step": result.best_step, "stopped_early": result.stopped_early, "steps": result.steps,
                "planned_steps": result.planned_steps, "seconds": result.seconds, "tokens": result.tokens,
                "padding_share": round(result.padding_tokens / real, 4) if real else 0.0,
                "peak_memory_mb": result.peak_memory_mb, "trainable_params": result.trainable_params,
                "resumed_at_step": result.resumed_at, "attempts": run.attempts, "preference": preference,
                "curves": "loss_curves.png", "environment": environment(), "created_at": now()}
    (partial / "uchi.json").write_text(json.dumps(metadata, indent=1, ensure_ascii=False))
    final = adapters_dir(cfg) / version
    os.replace(partial, final)
    with store.transaction():
        store.db["adapters"].insert({"version": version, "run_id": run_id, "snapshot": snap.hash,
                                     "base_model": cfg.model.base, "path": str(final),
                                     "metadata": json.dumps(metadata, ensure_ascii=False), "created_at": now()})
        store.db["runs"].update(run_id, {"status": "succeeded", "adapter_version": version, "error": None,
                                         "finished_at": now()})
    for leftover in workdir(cfg, run_id).glob("checkpoint*"):
        shutil.rmtree(leftover, ignore_errors=True)
    first, last = result.losses[0]["loss"], result.losses[-1]["loss"]
    log(f"run {run_id}: adapter {version} in {result.seconds:.0f}s, loss {first:.3f} -> {last:.3f}, kept step "
        f"{result.best_step} of {result.steps}")
    return adapters.get(store, version)
