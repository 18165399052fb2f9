"""Checkpoints: everything a killed run needs to continue exactly where its last checkpoint left it.

A checkpoint is a folder written beside the live one and swapped in by rename, and it counts only once its
state.json (written last) exists, so a kill while writing leaves the previous checkpoint intact.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def lora_weights(model) -> dict[str, torch.Tensor]:
    from peft import get_peft_model_state_dict

    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in get_peft_model_state_dict(model).items()}


def set_lora_weights(model, weights: dict[str, torch.Tensor]) -> None:
    from peft import set_peft_model_state_dict

    set_peft_model_state_dict(model, weights)


def save(folder: Path, model, optimizer, schedule, scaler, state: dict, best: dict[str, torch.Tensor]) -> None:
    """The live weights, optimizer, schedule and RNG, the best weights so far, and the loop's state."""
    tmp, old = folder.with_name(folder.name + ".tmp"), folder.with_name(folder.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(lora_weights(model), str(tmp / "adapter.safetensors"))
    save_file(best, str(tmp / "best.safetensors"))
    torch.save({"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                "scaler": scaler.state_dict() if scaler else None, "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
               tmp / "optimizer.pt")
    (tmp / "state.json").write_text(json.dumps(state))
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def latest(folder: Path) -> Path | None:
    """The newest complete checkpoint: the live folder, or the previous one if a kill hit between renames."""
    for candidate in (folder, folder.with_name(folder.name + ".old")):
        if (candidate / "state.json").is_file():
            return candidate
    return None


def state(folder: Path) -> dict | None:
    found = latest(folder)
    return json.loads((found / "state.json").read_text()) if found else None


def restore(folder: Path, model, optimizer, schedule, scaler) -> tuple[dict, dict[str, torch.Tensor]]:
    """Load a checkpoint into model, optimizer, schedule and RNG; returns its state and best weights."""
    found = latest(folder)
    set_lora_weights(model, load_file(str(found / "adapter.safetensors")))
    blob = torch.load(found / "optimizer.pt", weights_only=False)
    optimizer.load_state_dict(blob["optimizer"])
    schedule.load_state_dict(blob["schedule"])
    if scaler and blob["scaler"]:
        scaler.load_state_dict(blob["scaler"])
    torch.set_rng_state(blob["torch_rng"])
    if blob["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(blob["cuda_rng"])
    return json.loads((found / "state.json").read_text()), load_file(str(found / "best.safetensors"))
