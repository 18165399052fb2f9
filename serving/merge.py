"""Merged mode: an adapter folded into the base weights (PEFT merge_and_unload), served without LoRA.

One checkpoint per version under <state>/merged/<version>/, written once (atomically) and reused. A
promotion in merged mode smoke-tests the merged checkpoint on a staging vLLM (a free port) before the
alias moves; `uchi serve` then restarts onto it.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from uchi import basemodel
from uchi.config import Config
from uchi.data import adapters
from uchi.data.adapters import served_name, verify
from uchi.data.store import Store, now
from uchi.modelclient import ModelClient
from uchi.serving import crash
from uchi.serving.server import Server, Target, free_port

MARKER = "uchi-merged.json"


def merged_dir(cfg: Config, version: str) -> Path:
    return cfg.state_dir / "merged" / version


def merge_device(base_path: Path):
    """fp32 on a CPU-only machine (vLLM serves fp32 there, and the smoke test compares exactly); with a GPU, bf16 as
    vLLM serves it: on the GPU when its free memory holds the weights (production's vLLM may hold most of it),
    else in RAM, at half fp32's 32 GB for an 8B."""
    import torch

    if not torch.cuda.is_available():
        return "cpu", torch.float32
    stored = sum(f.stat().st_size for f in Path(base_path).glob("*.safetensors"))
    free, _ = torch.cuda.mem_get_info()
    return ("cuda" if free > 1.2 * stored else "cpu"), torch.bfloat16


def checkpoint(cfg: Config, store: Store, version: str, log=print) -> Path:
    """The merged checkpoint of the version, merging it the first time (a few seconds for 135M on CPU)."""
    target = merged_dir(cfg, version)
    if (target / MARKER).is_file():
        return target
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter = adapters.get(store, version)
    verify(adapter)
    base_path = basemodel.resolve(cfg)
    log(f"merging {version} into {base_path.name} (once) -> {target}")
    device, dtype = merge_device(base_path)
    log(f"merging on {device} in {str(dtype).removeprefix('torch.')}")
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=dtype).to(device)
    merged = PeftModel.from_pretrained(model, adapter.path).merge_and_unload()
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(tmp, safe_serialization=True)
    AutoTokenizer.from_pretrained(base_path).save_pretrained(tmp)
    # The marker is written last: a folder without it is an interrupted merge and is redone.
    (tmp / MARKER).write_text(json.dumps({"version": version, "base": str(base_path), "created_at": now()}))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    return target


def target(cfg: Config, store: Store, version: str | None, log=print) -> Target:
    """What merged mode serves: production merged, under the version's name; the base model before any."""
    if version is None:
        return Target(basemodel.resolve(cfg), cfg.model.served_name, lora=False)
    return Target(checkpoint(cfg, store, version, log), served_name(version), lora=False)


def stage(cfg: Config, store: Store, version: str, evaluation: dict | None, log=print) -> dict:
    """Smoke-test the merged checkpoint on a staging vLLM before the alias moves (the live one keeps serving)."""
    from uchi.serving import smoke

    chosen = target(cfg, store, version, log)
    crash.point("after-load")
    if evaluation is None:
        return {"prompts": 0, "matched": 0}
    staging = Server(cfg, cfg.state_dir / "logs" / "vllm-staging.log", target=chosen, port=free_port(cfg.serving.host))
    log(f"smoke-testing the merged {version} on a staging vLLM at {staging.url}")
    with staging:
        result = smoke.check(cfg, store, ModelClient(staging.url, cfg.serving.request_timeout_s), version,
                             chosen.name, evaluation)
    crash.point("after-smoke")
    return result
