"""Poisoning limits: what one person can make the model learn (the lesson of Microsoft's Tay).

- a per-author submission rate limit;
- review before training: an author cannot approve their own pairs, except listed trusted authors,
  whose pairs are approved on arrival;
- a cap on any one author's share of a training snapshot.

CLI imports (source `import:...`) are curated by someone with access to the store itself, so they are
exempt from the rate limit and the cap; everything that comes from people through the bot is not.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from uchi.config import DataConfig
from uchi.data.store import Store
from uchi.errors import UchiError

CURATED = "import:"
AUTO_REVIEWER = "auto:trusted"


def policy(store: Store) -> DataConfig:
    """The [data] settings of the configuration the store was opened with (defaults for a bare Store)."""
    cfg = getattr(store, "cfg", None)
    return cfg.data if cfg is not None else DataConfig()


def curated(source: str) -> bool:
    return source.startswith(CURATED)


def check_rate(store: Store, rules: DataConfig, *, author: str, source: str, n: int,
               at: datetime | None = None) -> None:
    """Refuse a submission of n pairs that would take the author over the limit, saying when to retry."""
    if curated(source) or author in rules.trusted_authors:
        return
    if n > rules.rate_limit_pairs:
        raise UchiError(f"{n} pairs at once is more than the {rules.rate_limit_pairs} one author may submit per "
                        f"{rules.rate_limit_minutes} minutes (data.rate_limit_pairs); send fewer, or ask an "
                        "admin to import them")
    at = at or datetime.now(timezone.utc)
    since = (at - timedelta(minutes=rules.rate_limit_minutes)).isoformat(timespec="milliseconds")
    stamps = [r["created_at"] for r in store.rows(
        "SELECT created_at FROM pairs WHERE author = ? AND created_at >= ? AND source NOT LIKE 'import:%' "
        "UNION ALL SELECT created_at FROM pair_merges WHERE author = ? AND created_at >= ? ORDER BY created_at",
        [author, since, author, since])]
    over = len(stamps) + n - rules.rate_limit_pairs
    if over > 0:
        free_at = datetime.fromisoformat(stamps[over - 1]) + timedelta(minutes=rules.rate_limit_minutes)
        wait = max(1, round((free_at - at).total_seconds() / 60))
        raise UchiError(f"{author} has submitted {len(stamps)} pairs in the last {rules.rate_limit_minutes} minutes "
                        f"(limit {rules.rate_limit_pairs}, data.rate_limit_pairs); submit again after "
                        f"{free_at:%Y-%m-%d %H:%M} UTC (in about {wait} minutes)")


def arrival_review(rules: DataConfig, *, author: str, source: str, status: str,
                   reviewer: str | None) -> tuple[str, str | None]:
    """The (status, reviewer) a pair enters with: trusted authors' pairs approved, self-approval refused."""
    if author in rules.trusted_authors and status == "pending":
        return "approved", AUTO_REVIEWER
    if status == "approved":
        check_reviewer(rules, author=author, source=source, reviewer=reviewer)
    return status, reviewer


def check_reviewer(rules: DataConfig, *, author: str, source: str, reviewer: str | None) -> None:
    if curated(source) or author in rules.trusted_authors:
        return
    if not reviewer or reviewer == author:
        raise UchiError(f"pairs from {author} must be approved by a reviewer other than their author before they "
                        "are trained on (or list the author in data.trusted_authors)")


def cap_authors(pairs: list[dict], rules: DataConfig, votes: dict[int, int] | None = None) -> tuple[list, list]:
    """(kept, held back): no non-curated author above author_share of the kept pairs, beyond author_floor.

    The allowance shrinks with the snapshot it bounds, so it is found by iterating to a fixed point.
    An author over it keeps their most-endorsed pairs, then their oldest (so new pairs never reshuffle).
    """
    votes = votes or {}
    exempt = [p for p in pairs if curated(p["source"])]
    by_author: dict[str, list[dict]] = {}
    for pair in pairs:
        if not curated(pair["source"]):
            by_author.setdefault(pair["author"], []).append(pair)
    for group in by_author.values():
        group.sort(key=lambda p: (-votes.get(p["id"], 0), p["id"]))
    total = len(pairs)
    while True:
        allowance = max(rules.author_floor, int(rules.author_share * total))
        kept_total = len(exempt) + sum(min(len(g), allowance) for g in by_author.values())
        if kept_total == total:
            break
        total = kept_total
    kept_ids = {p["id"] for p in exempt} | {p["id"] for g in by_author.values() for p in g[:allowance]}
    return [p for p in pairs if p["id"] in kept_ids], [p for p in pairs if p["id"] not in kept_ids]
