"""Preparing the base model: the embedded GGUF de-quantized once into safetensors under the state directory,
which both the trainer and vLLM then load (uchi.basemodel resolves the folder)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from uchi.basemodel import embedded_gguf, is_checkpoint, prepared_dir, resolve
from uchi.config import EMBEDDED_MODEL, Config


def prepare(cfg: Config, log=print) -> Path:
    """Make cfg.model.base available locally; converts the embedded GGUF once, then reuses it."""
    if cfg.model.base != EMBEDDED_MODEL:
        return resolve(cfg)
    target = prepared_dir(cfg)
    if is_checkpoint(target):
        return target
    gguf = embedded_gguf()
    log(f"de-quantizing {gguf.name} into {target} (once)")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype="float32")
    # Saving with the GGUF quantizer attached would write a checkpoint that claims to be GGUF-quantized.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    return target
