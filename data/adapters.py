"""The adapter registry's allowlist: immutable versions (the adapters table) under the production, candidate
and previous aliases, and the one way a version reaches the model server — by its unique served name, from a
path in the table whose weights still hash to the version's name. Promotion and rollback (which move the
aliases) are serving's; evals and answering load versions through here."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from uchi.config import Config
from uchi.data.store import Store
from uchi.errors import UchiError
from uchi.modelclient import ModelClient

PRODUCTION = "production"
CANDIDATE = "candidate"
PREVIOUS = "previous"
_VERSION = re.compile(r"v\d+-([0-9a-f]{8})")


@dataclass(frozen=True)
class Adapter:
    """A trained version as the adapters table holds it; `metadata` is the adapter's uchi.json (losses, data
    mixture, timings, environment)."""
    version: str
    run_id: int
    snapshot: str
    base_model: str
    path: str
    metadata: dict
    created_at: str


def get(store: Store, version: str) -> Adapter:
    row = store.one("SELECT * FROM adapters WHERE version = ?", [version])
    if row is None:
        known = [r["version"] for r in store.rows("SELECT version FROM adapters ORDER BY created_at DESC LIMIT 5")]
        hint = f"; recent versions: {', '.join(known)}" if known else "; train one with `uchi train`"
        raise UchiError(f"no adapter version {version!r}{hint}")
    return Adapter(**(row | {"metadata": json.loads(row["metadata"])}))


def served_name(version: str) -> str:
    return f"uchi-{version}"


def model_for(cfg: Config, version: str | None) -> str:
    return served_name(version) if version else cfg.model.served_name


def verify(adapter: Adapter) -> None:
    """The adapter's weights must still be the ones its version was named after."""
    match = _VERSION.fullmatch(adapter.version)
    weights = Path(adapter.path) / "adapter_model.safetensors"
    if not weights.is_file():
        raise UchiError(f"adapter {adapter.version}: {weights} is missing; retrain it or restore the folder")
    if match and hashlib.sha256(weights.read_bytes()).hexdigest()[:8] != match.group(1):
        raise UchiError(f"adapter {adapter.version}: {weights} no longer matches its version's hash (the files "
                        "were changed after training); versions are immutable, so retrain instead of editing")


def ensure_loaded(client: ModelClient, store: Store, version: str) -> str:
    """Load the version into vLLM if it is not there (e.g. after a server restart); returns its served name."""
    name = served_name(version)
    if name not in client.models():
        if store.cfg is not None and store.cfg.serving.mode == "merged":
            raise UchiError(f"the model server does not serve {version} yet: `uchi serve` (merged mode) restarts "
                            "onto a new production version within a few minutes; try again then")
        adapter = get(store, version)
        verify(adapter)
        client.load_adapter(name, adapter.path)
    return name
