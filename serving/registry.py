"""Which adapter answers: aliases (production, candidate, previous) over immutable versions; promotion and
rollback.

uchi keeps its own allowlist (the adapters table) and only ever asks vLLM to load paths from it, after
checking that the weights still hash to the version's name. Each version is served under a name unique
to its content, so a reload can never serve another version's weights from vLLM's caches.

A promotion loads the version, smoke-tests it, switches `production` in one transaction (only if
production is still what it was when the promotion began), then unloads the old version after a grace
period. A crash at any step leaves production either wholly old or wholly new.
"""
from __future__ import annotations

import json
import logging
import threading
import time

from uchi.config import Config
from uchi.data import adapters, audit
from uchi.data.adapters import CANDIDATE, PREVIOUS, PRODUCTION, ensure_loaded, served_name
from uchi.data.store import Store, now
from uchi.errors import UchiError
from uchi.evals import human
from uchi.modelclient import ModelClient
from uchi.serving import crash

log = logging.getLogger("uchi.serving")


def answering(cfg: Config, store: Store, client: ModelClient, version: str | None) -> tuple[str, str | None]:
    """(served model name, version) that answers for `version`, loading it if needed. In merged mode the
    server holds one version until `uchi serve` restarts onto a new production, so the answer comes from,
    and is recorded as, the version it serves."""
    if cfg.serving.mode == "merged":
        names = [name for name in client.models() if name.startswith(served_name(""))]
        return (names[0], names[0][len(served_name("")):]) if names else (cfg.model.served_name, None)
    return (ensure_loaded(client, store, version), version) if version else (cfg.model.served_name, None)


def latest_eval(store: Store, version: str) -> dict | None:
    return store.one("SELECT * FROM evals WHERE adapter_version = ? ORDER BY id DESC LIMIT 1", [version])


def switch(store: Store, alias: str, version: str | None, *, expected: str | None, actor: str, reason: str = "",
           forced: bool = False, keep_previous: bool = True) -> None:
    """Move the alias in one transaction, only if it still points at `expected` (another promotion may
    have moved it meanwhile). Moving production records the version it replaces as `previous`."""
    with store.transaction():
        current = store.alias(alias)
        if current != expected:
            raise UchiError(f"{alias} changed to {current or 'the base model'} while this was under way; "
                            "nothing was switched; check `uchi adapters` and try again")
        if alias == PRODUCTION and current != version:
            store.db["aliases"].upsert({"name": PREVIOUS, "version": current if keep_previous else None,
                                        "updated_at": now()}, pk="name")
        crash.point("in-switch")
        store.db["aliases"].upsert({"name": alias, "version": version, "updated_at": now()}, pk="name")
        store.db["promotions"].insert({"alias": alias, "from_version": current, "to_version": version,
                                       "actor": actor, "reason": reason, "forced": int(forced),
                                       "created_at": now()})


def set_alias(store: Store, alias: str, version: str | None, *, actor: str, reason: str = "",
              forced: bool = False) -> None:
    switch(store, alias, version, expected=store.alias(alias), actor=actor, reason=reason, forced=forced)


def check_gate(cfg: Config, store: Store, version: str, force_reason: str | None, *,
               human_pending_ok: bool = False) -> dict | None:
    """The version's latest eval; refuses a failed or missing gate unless a reason to force is given. A gate
    that waits only for human evidence is re-decided first (votes or a canary's thumbs may have come in) and
    then refused as pending (human.Pending), except to start a canary (`human_pending_ok`): that is one way
    to get the evidence."""
    adapter = adapters.get(store, version)
    if adapter.base_model != cfg.model.base:
        raise UchiError(f"{version} was trained on {adapter.base_model}, but model.base is {cfg.model.base}; "
                        "serve the base it was trained on or retrain")
    evaluation = latest_eval(store, version)
    if force_reason is not None and not force_reason.strip():
        raise UchiError("--force needs a reason, e.g. --force \"hotfix for the VPN answer\"; it is audited")
    if force_reason is not None:
        return evaluation
    if evaluation is None:
        raise UchiError(f"{version} has not been evaluated: run `uchi eval run {version}` first, "
                        "or promote with --force \"reason\"")
    if human.state(evaluation) == "pending":
        human.redecide(cfg, store, evaluation["id"])
        evaluation = latest_eval(store, version)
    state = human.state(evaluation)
    if state == "failed":
        reasons = "; ".join(json.loads(evaluation["reasons"]))
        raise UchiError(f"{version} failed its gate ({reasons}); promote with --force \"reason\" to override")
    if state == "pending" and not human_pending_ok:
        count = human.votes(store, evaluation["id"])
        raise human.Pending(version, evaluation["id"], sum(count.values()), cfg.eval.min_votes)
    return evaluation


def stage(cfg: Config, store: Store, client: ModelClient, version: str, evaluation: dict | None) -> dict:
    """Load the version beside production and smoke-test it; on a mismatch unload it again and refuse."""
    from uchi.serving import merge, smoke

    if cfg.serving.mode == "merged":
        return merge.stage(cfg, store, version, evaluation)
    name = ensure_loaded(client, store, version)
    crash.point("after-load")
    try:
        result = smoke.check(cfg, store, client, version, name, evaluation)
    except smoke.Mismatch:
        if version not in (store.alias(PRODUCTION), store.alias(CANDIDATE)):
            client.unload_adapter(name)
        raise
    crash.point("after-smoke")
    return result


_retiring: list[threading.Thread] = []


def retire(cfg: Config, store: Store, client: ModelClient, version: str | None, grace_s: float) -> None:
    """Unload a version no alias serves any more, after the grace period (so that an answer under way on
    it finishes first), in a background thread; a short-lived process waits with wait_retired()."""
    if version is None or cfg.serving.mode == "merged":
        return

    def unload() -> None:
        time.sleep(grace_s)
        with Store(store.path) as fresh:
            if version in (fresh.alias(PRODUCTION), fresh.alias(CANDIDATE)):
                return  # rolled back (or made a candidate) during the grace period
        crash.point("before-unload")
        try:
            client.unload_adapter(served_name(version))
        except UchiError as exc:
            log.warning("could not unload the retired adapter %s (it stays loaded until vLLM restarts): %s",
                        version, exc)

    thread = threading.Thread(target=unload, name=f"retire-{version}", daemon=True)
    thread.start()
    _retiring.append(thread)
    if grace_s == 0:
        thread.join()


def wait_retired() -> None:
    """Block until every pending unload has happened (the CLI calls it before exiting)."""
    while _retiring:
        _retiring.pop().join()


def promote(cfg: Config, store: Store, client: ModelClient, version: str, *, actor: str,
            force_reason: str | None = None) -> dict:
    """Make the version production: load, smoke test, switch, unload the old one after a grace period.
    A failed, missing or pending gate needs a forced reason, audited in promotions and in the audit table."""
    from uchi.serving import canary

    evaluation = check_gate(cfg, store, version, force_reason)
    current = store.alias(PRODUCTION)
    if current == version:
        raise UchiError(f"{version} is already production")
    smoked = stage(cfg, store, client, version, evaluation)
    reason = force_reason or "gate passed"
    if smoked["prompts"] == 0:
        reason += "; no eval, so no smoke test"
    switch(store, PRODUCTION, version, expected=current, actor=actor, reason=reason,
           forced=force_reason is not None)
    # Every promotion lands in `audit` from here, whichever front asked (the promotions table keeps the alias history).
    audit.record(store, actor, "promote", version, "forced" if force_reason is not None else "done", force_reason or "")
    if force_reason is not None:
        if evaluation is not None and evaluation["metrics"] and json.loads(evaluation["metrics"]).get("checks"):
            human.redecide(cfg, store, evaluation["id"])  # the report names who let it through, and why
    canary.promoted(store, version, actor)
    retire(cfg, store, client, current, cfg.serving.unload_grace_s)
    return {"version": version, "previous": current, "served_as": served_name(version), "smoke": smoked}


def rollback(cfg: Config, store: Store, client: ModelClient, *, actor: str, reason: str = "rollback") -> dict:
    """Move production back to the previous version (reloading it if the server lost it), in seconds."""
    current, previous = store.alias(PRODUCTION), store.alias(PREVIOUS)
    if current is None:
        raise UchiError("nothing to roll back: no adapter is in production (the base model answers)")
    if previous and cfg.serving.mode == "lora":
        ensure_loaded(client, store, previous)
    switch(store, PRODUCTION, previous, expected=current, actor=actor, reason=reason, keep_previous=False)
    audit.record(store, actor, "rollback", current, "done", reason)
    retire(cfg, store, client, current, cfg.serving.unload_grace_s)
    return {"version": previous, "rolled_back": current}
