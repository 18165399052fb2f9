"""Which adapter answers: aliases (production, previous) over immutable versions, and promotions.

uchi keeps its own allowlist (the adapters table) and only ever asks vLLM to load paths from it.
Each version is served under a unique name, so a reload can never serve another version's weights.
"""
from __future__ import annotations

import json

from uchi.config import Config
from uchi.data.store import Store, now
from uchi.errors import UchiError
from uchi.serving.client import ModelClient

PRODUCTION = "production"
PREVIOUS = "previous"


def served_name(version: str) -> str:
    return f"uchi-{version}"


def model_for(cfg: Config, version: str | None) -> str:
    return served_name(version) if version else cfg.model.served_name


def ensure_loaded(client: ModelClient, store: Store, version: str) -> str:
    """Load the version into vLLM if it is not there (e.g. after a server restart); returns its served name."""
    name = served_name(version)
    if name not in client.models():
        client.load_adapter(name, store.adapter(version)["path"])
    return name


def latest_eval(store: Store, version: str) -> dict | None:
    return store.one("SELECT * FROM evals WHERE adapter_version = ? ORDER BY id DESC LIMIT 1", [version])


def set_alias(store: Store, alias: str, version: str | None, *, actor: str, reason: str = "",
              forced: bool = False) -> None:
    with store.transaction():
        current = store.alias(alias)
        if alias == PRODUCTION and current and current != version:
            store.db["aliases"].upsert({"name": PREVIOUS, "version": current, "updated_at": now()}, pk="name")
        store.db["aliases"].upsert({"name": alias, "version": version, "updated_at": now()}, pk="name")
        store.db["promotions"].insert({"alias": alias, "from_version": current, "to_version": version,
                                       "actor": actor, "reason": reason, "forced": int(forced),
                                       "created_at": now()})


def promote(cfg: Config, store: Store, client: ModelClient, version: str, *, actor: str,
            force_reason: str | None = None) -> dict:
    """Load the version into the server, then move `production` to it. A failed gate needs a forced reason."""
    store.adapter(version)
    evaluation = latest_eval(store, version)
    if force_reason is not None and not force_reason.strip():
        raise UchiError("--force needs a reason, e.g. --force \"hotfix for the VPN answer\"; it is audited")
    if force_reason is None:
        if evaluation is None:
            raise UchiError(f"{version} has not been evaluated: run `uchi eval {version}` first, "
                            "or promote with --force \"reason\"")
        if not evaluation["passed"]:
            reasons = "; ".join(json.loads(evaluation["reasons"]))
            raise UchiError(f"{version} failed its gate ({reasons}); promote with --force \"reason\" to override")
    if store.alias(PRODUCTION) == version:
        raise UchiError(f"{version} is already production")
    ensure_loaded(client, store, version)
    set_alias(store, PRODUCTION, version, actor=actor, reason=force_reason or "gate passed",
              forced=force_reason is not None)
    return {"version": version, "previous": store.alias(PREVIOUS), "served_as": served_name(version)}


def rollback(cfg: Config, store: Store, client: ModelClient, *, actor: str, reason: str = "rollback") -> dict:
    """Move production back to the previous version (reloading it if the server lost it)."""
    current, previous = store.alias(PRODUCTION), store.alias(PREVIOUS)
    if current is None:
        raise UchiError("nothing to roll back: no adapter is in production (the base model answers)")
    if previous:
        ensure_loaded(client, store, previous)
    with store.transaction():
        store.db["aliases"].upsert({"name": PRODUCTION, "version": previous, "updated_at": now()}, pk="name")
        store.db["aliases"].upsert({"name": PREVIOUS, "version": None, "updated_at": now()}, pk="name")
        store.db["promotions"].insert({"alias": PRODUCTION, "from_version": current, "to_version": previous,
                                       "actor": actor, "reason": reason, "forced": 0, "created_at": now()})
    return {"version": previous, "rolled_back": current}
