"""One GPU for serving by day and training by night: vLLM sleeps while a run trains, and wakes after.

Before it sleeps, vLLM writes whatever replay answers and question phrasings the run still lacks (the
generation cache), since it does that far faster than the trainer would. train.sleep_vllm = "auto" sleeps
only when this machine has a GPU, vLLM answers on serving.url and the run trains here (not on Slurm).
"""
from __future__ import annotations

from contextlib import contextmanager

from uchi.config import Config
from uchi.data import snapshot as snapshots
from uchi.data.runs import Run, workdir
from uchi.data.store import Store
from uchi.errors import UchiError


def should_sleep(cfg: Config, client) -> bool:
    import torch

    if cfg.train.sleep_vllm == "never":
        return False
    if cfg.train.sleep_vllm == "auto" and (not torch.cuda.is_available() or cfg.train.runner == "slurm"):
        return False
    return client.healthy()


def run_config(cfg: Config, run: Run) -> Config:
    """The configuration the run was created with (a resumed run keeps its own)."""
    from uchi import config as config_module

    frozen = workdir(cfg, run.id) / "config.toml"
    return config_module.load(frozen, env={}) if frozen.is_file() else cfg


def prefill(cfg: Config, store: Store, run: Run, generator, log) -> None:
    """Fill the generation cache for this run through vLLM, so the trainer only reads it."""
    from uchi import basemodel
    from uchi.trainer import sizing
    from uchi.trainer.generate import Cache, model_id
    from uchi.trainer.mixture import build

    frozen = run_config(cfg, run)
    base_path = basemodel.resolve(frozen)
    snap = snapshots.load(store, run.snapshot)
    hyper = sizing.resolve(frozen.train, len(snap.pairs), sizing.hidden_size(base_path),
                           frozen.serving.max_lora_rank)
    cache = Cache.open(frozen, store, model_id(frozen, base_path))
    build(store, snap, frozen.train, hyper.epochs, cache, lambda: generator, frozen.retrieval)
    if cache.generated:
        log(f"vLLM generated {cache.generated} replay answers and phrasings in {cache.seconds:.0f}s (cached)")


@contextmanager
def gpu_for_training(cfg: Config, store: Store, run: Run, log):
    """vLLM asleep for the duration of the block when it shares this machine's GPU (train.sleep_vllm)."""
    from uchi.modelclient import ModelClient

    client = ModelClient(cfg.serving.url, cfg.serving.request_timeout_s)
    try:
        if should_sleep(cfg, client) and _asleep(cfg, store, run, client, log):
            try:
                yield
            finally:
                client.wake_up()
                log(f"vLLM at {cfg.serving.url} is awake again")
        else:
            yield
    finally:
        client.close()


def _asleep(cfg: Config, store: Store, run: Run, client, log) -> bool:
    """Let vLLM generate what the run lacks, then put it to sleep; False if it cannot sleep (train.sleep_vllm = auto)."""
    from uchi.trainer.generate import ServerGenerator

    if cfg.train.generator != "transformers" and cfg.model.served_name in client.models():
        prefill(cfg, store, run, ServerGenerator(client, cfg.model.served_name, cfg.eval.concurrency), log)
    try:
        client.sleep(level=1)
    except UchiError as exc:
        if cfg.train.sleep_vllm == "always":
            raise
        log(f"vLLM keeps the GPU while training ({exc})")
        return False
    log(f"vLLM at {cfg.serving.url} sleeps while run {run.id} trains")
    return True
