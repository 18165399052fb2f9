"""The bot's audit trail: refused attempts, forced promotions and admin decisions taken in Slack."""
from __future__ import annotations

from uchi.data.store import Store, now

OUTCOMES = ("refused", "forced", "done")


def record(store: Store, actor: str, action: str, target: str = "", outcome: str = "done", detail: str = "") -> int:
    if outcome not in OUTCOMES:
        raise ValueError(f"audit outcome {outcome!r}")
    return store.db["audit"].insert({"actor": actor, "action": action, "target": str(target), "outcome": outcome,
                                     "detail": detail, "created_at": now()}).last_pk


def entries(store: Store, *, actor: str | None = None, outcome: str | None = None) -> list[dict]:
    return store.matching("audit", actor=actor, outcome=outcome)
