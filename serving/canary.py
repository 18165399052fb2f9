"""Canary: the candidate answers a configured share of questions while production answers the rest; each
answer records its route, and the ratings on both routes decide.

The rule (checked before every routed question, and by `check()` after a rating) rolls the candidate
back when its thumbs-down rate is worse than production's with the configured one-sided confidence
(a pooled two-proportion z-test, evals.stats, the same statistics the eval gate uses), once each side
has enough ratings. A canary that ends without rollback, with enough ratings, is human evidence for its
version: evals.human counts its thumbs in place of blind votes, so a candidate still waiting for votes
may start a canary (and be promoted from it).
"""
from __future__ import annotations

import hashlib

from uchi.config import Config
from uchi.data import audit
from uchi.data.adapters import CANDIDATE, PRODUCTION
from uchi.data.store import Store, now
from uchi.errors import UchiError
from uchi.evals.human import canary_verdict, tally
from uchi.modelclient import ModelClient
from uchi.serving.registry import check_gate, retire, stage, switch

RULE = "canary-rule"


def running(store: Store) -> dict | None:
    return store.one("SELECT * FROM canaries WHERE ended_at IS NULL")


def start(cfg: Config, store: Store, client: ModelClient, version: str, *, actor: str,
          share: float | None = None, force_reason: str | None = None) -> dict:
    """Load and smoke-test the version, then let it answer `share` of questions beside production."""
    if cfg.serving.mode != "lora":
        raise UchiError("a canary needs two versions served side by side: set serving.mode = \"lora\"")
    share = cfg.serving.canary_share if share is None else share
    if not 0 < share <= 0.5:
        raise UchiError(f"canary share {share} must be in (0, 0.5]: the candidate answers the smaller part")
    if running(store):
        raise UchiError(f"a canary of {running(store)['version']} is running; stop it first (`uchi canary stop`)")
    production = store.alias(PRODUCTION)
    if version == production:
        raise UchiError(f"{version} is already production")
    evaluation = check_gate(cfg, store, version, force_reason, human_pending_ok=True)
    stage(cfg, store, client, version, evaluation)
    with store.transaction():
        switch(store, CANDIDATE, version, expected=store.alias(CANDIDATE), actor=actor,
               reason=force_reason or f"canary at {share:.0%}", forced=force_reason is not None)
        canary_id = store.db["canaries"].insert({"version": version, "production_version": production,
                                                 "share": share, "actor": actor, "started_at": now()}).last_pk
    audit.record(store, actor, "canary", version, "forced" if force_reason is not None else "done",
                 force_reason or f"share {share:.0%}")
    return store.one("SELECT * FROM canaries WHERE id = ?", [canary_id])


def arm(canary: dict, asker: str, question: str) -> str:
    """The route of a question: a hash, so the same person asking the same thing gets the same version."""
    digest = hashlib.sha256(f"{canary['id']}\n{asker}\n{question}".encode()).digest()
    return CANDIDATE if int.from_bytes(digest[:8], "big") / 2 ** 64 < canary["share"] else PRODUCTION


def route(cfg: Config, store: Store, client: ModelClient, asker: str, question: str) -> tuple[str, str | None, int | None]:
    """(alias, version, canary id) that answers this question; applies the rollback rule first."""
    canary = running(store)
    if canary and check(cfg, store, client, canary)["rolled_back"]:
        canary = None
    production = store.alias(PRODUCTION)
    if canary is None:
        return PRODUCTION, production, None
    if arm(canary, asker, question) == CANDIDATE:
        return CANDIDATE, canary["version"], canary["id"]
    return PRODUCTION, production, canary["id"]


def check(cfg: Config, store: Store, client: ModelClient, canary: dict | None = None) -> dict:
    """Apply the rule to the running canary; rolls it back when the candidate is significantly worse, and
    stops it when production moved underneath it (its comparison would no longer hold)."""
    canary = canary or running(store)
    if canary is None:
        return {"rolled_back": False, "reason": "no canary is running"}
    if store.alias(PRODUCTION) != canary["production_version"]:
        stop(cfg, store, client, actor=RULE, detail="production changed during the canary", only=canary["id"])
        return {"rolled_back": True, "reason": "production changed during the canary"}
    counts = tally(store, canary["id"])
    cand, prod = counts[CANDIDATE], counts[PRODUCTION]
    enough, worse, p = canary_verdict(cfg, counts)
    reason = (f"thumbs-down {cand['down']}/{cand['n']} for {canary['version']} vs {prod['down']}/{prod['n']} for "
              f"production (one-sided p = {p:.4f})")
    if enough and worse:
        stop(cfg, store, client, actor=RULE, outcome="rolled back", detail=reason, only=canary["id"])
        return {"rolled_back": True, "reason": reason, "p": p, "counts": counts}
    return {"rolled_back": False, "reason": reason if enough else reason + "; too few ratings to judge",
            "p": p, "counts": counts}


def stop(cfg: Config, store: Store, client: ModelClient, *, actor: str, outcome: str = "stopped",
         detail: str = "", only: int | None = None) -> dict | None:
    """End the running canary: production answers everything again; the candidate is unloaded. With
    `only` (the rule), end that canary if it still runs, and do nothing if another question ended it first."""
    with store.transaction():
        canary = running(store)
        if canary is None or (only is not None and canary["id"] != only):
            if only is not None:
                return None
            raise UchiError("no canary is running")
        store.db["canaries"].update(canary["id"], {"ended_at": now(), "outcome": outcome, "detail": detail})
        switch(store, CANDIDATE, None, expected=canary["version"], actor=actor, reason=f"canary {outcome}: {detail}")
    audit.record(store, actor, f"canary_{outcome}", canary["version"], "done", detail)
    retire(cfg, store, client, canary["version"], cfg.serving.unload_grace_s)
    return store.one("SELECT * FROM canaries WHERE id = ?", [canary["id"]])


def promoted(store: Store, version: str, actor: str) -> None:
    """A promotion of the canary's candidate ends the canary as promoted (called inside promote)."""
    with store.transaction():
        canary = running(store)
        if canary is None or canary["version"] != version:
            return
        store.db["canaries"].update(canary["id"], {"ended_at": now(), "outcome": "promoted"})
        switch(store, CANDIDATE, None, expected=version, actor=actor, reason="canary promoted")
