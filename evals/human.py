"""Human scores: thumbs-up rate per adapter version from Slack ratings, blind side-by-side votes, and which
human evidence decides a candidate's human check.

The human check is pending until one of these exists, in this order:
- `eval.min_votes` blind side-by-side votes on the eval (the win rate rule in evals.gate decides);
- a canary of the version that ended, or still runs, without rollback, with `serving.canary_min_ratings`
  ratings on each route: the thumbs per version are human scores, judged by the canary's own rule;
- otherwise it stays pending; a forced promotion is shown as what let the version through, by whom and why.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from uchi.config import Config
from uchi.data import adapters
from uchi.data.store import Store, now
from uchi.errors import UchiError
from uchi.evals import gate, report, stats
from uchi.evals.result import EvalResult

CANDIDATE, PRODUCTION = "candidate", "production"  # the routes of a canary (aliases of data.adapters)


class Pending(UchiError):
    """A promotion waits: the candidate's human check has too few blind votes and no canary behind it."""

    def __init__(self, version: str, eval_id: int, votes: int, needed: int):
        self.version, self.eval_id, self.votes, self.needed = version, eval_id, votes, needed
        super().__init__(f"{version} waits for human evidence: {votes} of {needed} blind votes so far; vote with "
                         f"`uchi eval vote {eval_id}` or in Slack (Compare blind), or start a canary "
                         f"(`uchi canary start {version}`), or promote with --force \"reason\" (audited)")


@dataclass
class Evidence:
    """What decided (or did not yet decide) the human check, as the report shows it."""
    kind: str          # votes, canary, identical, forced, pending
    detail: str
    wins: int = 0
    losses: int = 0
    ties: int = 0
    min_votes: int = 0
    forced: str = ""  # a forced promotion of the version after this eval: by whom, why, when


def thumbs(store: Store, version: str | None, confidence: float = 0.95) -> dict:
    """Thumbs-up rate of the answers a version gave (None: the base model), with its Wilson interval."""
    row = store.one("SELECT SUM(r.value = 1) AS up, COUNT(*) AS n FROM ratings r JOIN answers a ON a.id = r.answer_id "
                    "WHERE a.adapter_version IS ?", [version])
    up, n = int(row["up"] or 0), int(row["n"])
    low, high = stats.wilson_interval(up, n, confidence)
    return {"version": version, "up": up, "n": n, "rate": up / n if n else None, "low": low, "high": high}


def tally(store: Store, canary_id: int) -> dict[str, dict]:
    """Ratings per route of one canary: n, thumbs-down, and the Wilson interval of the thumbs-down rate."""
    rows = {r["alias"]: r for r in store.rows(
        "SELECT a.alias, a.adapter_version AS version, COUNT(r.id) AS n, "
        "COALESCE(SUM(r.value = -1), 0) AS down FROM answers a JOIN ratings r ON r.answer_id = a.id "
        "WHERE a.canary_id = ? GROUP BY a.alias", [canary_id])}
    out = {}
    for alias in (CANDIDATE, PRODUCTION):
        row = rows.get(alias, {"version": None, "n": 0, "down": 0})
        low, high = stats.wilson_interval(row["down"], row["n"])
        out[alias] = {"version": row["version"], "n": row["n"], "down": row["down"],
                      "down_rate": round(row["down"] / row["n"], 4) if row["n"] else None,
                      "interval": (round(low, 4), round(high, 4))}
    return out


def canary_verdict(cfg: Config, counts: dict) -> tuple[bool, bool, float]:
    """(enough ratings on both routes, candidate significantly worse, one-sided p): the canary's rule."""
    cand, prod = counts[CANDIDATE], counts[PRODUCTION]
    p = stats.two_proportion_worse(cand["down"], cand["n"], prod["down"], prod["n"])
    enough = min(cand["n"], prod["n"]) >= cfg.serving.canary_min_ratings
    return enough, p < 1 - cfg.serving.canary_confidence, p


def canary_check(cfg: Config, store: Store, version: str) -> gate.Check | None:
    """The latest canary of the version that was not rolled back and has enough thumbs to judge."""
    for row in store.rows("SELECT id FROM canaries WHERE version = ? AND outcome IS NOT 'rolled back' "
                          "ORDER BY id DESC", [version]):
        counts = tally(store, row["id"])
        enough, worse, p = canary_verdict(cfg, counts)
        if enough and not worse:
            return gate.canary(version, counts, p, row["id"], "human" in cfg.eval.hard_gates)
    return None


def state(evaluation: dict) -> str:
    """passed, failed or pending, of an evals row."""
    checks = json.loads(evaluation["metrics"] or "{}").get("checks")
    if not checks:  # an eval row recorded without its checks stands by its passed flag
        return "passed" if evaluation["passed"] else "failed"
    return gate.stored_state(checks)


def _detail(store: Store, eval_id: int) -> dict:
    row = store.one("SELECT report_path FROM evals WHERE id = ?", [eval_id])
    if row is None:
        raise UchiError(f"no eval #{eval_id}; see `uchi adapters` and `uchi eval report VERSION`")
    path = Path(row["report_path"]).with_suffix(".json")
    if not path.is_file():
        raise UchiError(f"the answers of eval #{eval_id} are missing ({path}); re-run the eval with `uchi eval run`")
    return json.loads(path.read_text(encoding="utf-8"))


def comparisons(store: Store, eval_id: int) -> list[dict]:
    """Questions where the two systems answered differently (identical answers teach a voter nothing)."""
    detail = _detail(store, eval_id)
    pairs = zip(detail["items"][detail["baseline"]], detail["items"]["candidate"])
    return [{"item": i, "question": ref["question"], "production": ref["answer"], "candidate": cand["answer"]}
            for i, (ref, cand) in enumerate(pairs) if ref["answer"].strip() != cand["answer"].strip()]


def candidate_is_left(eval_id: int, item: int, voter: str) -> bool:
    """The blind order, derived on the server each time: a button value cannot choose it."""
    return hashlib.sha256(f"{eval_id}:{item}:{voter}".encode()).digest()[0] % 2 == 0


def next_comparison(store: Store, eval_id: int, voter: str) -> dict | None:
    voted = {r["item"] for r in store.rows("SELECT item FROM sbs_votes WHERE eval_id = ? AND voter = ?",
                                           [eval_id, voter])}
    for comparison in comparisons(store, eval_id):
        if comparison["item"] not in voted:
            left_candidate = candidate_is_left(eval_id, comparison["item"], voter)
            first, second = ("candidate", "production") if left_candidate else ("production", "candidate")
            return {"eval_id": eval_id, "item": comparison["item"], "question": comparison["question"],
                    "left": comparison[first], "right": comparison[second]}
    return None


def record_vote(cfg: Config, store: Store, eval_id: int, item: int, voter: str, pick: str) -> dict:
    """pick is left, right or tie as the voter saw them; the gate is re-decided with the new count."""
    if pick not in ("left", "right", "tie"):
        raise UchiError(f"vote {pick!r}: choose left, right or tie")
    if item not in {c["item"] for c in comparisons(store, eval_id)}:
        raise UchiError(f"eval #{eval_id} has no side-by-side item {item}")
    left_candidate = candidate_is_left(eval_id, item, voter)
    choice = "tie" if pick == "tie" else ("candidate" if (pick == "left") == left_candidate else "production")
    store.db["sbs_votes"].upsert({"eval_id": eval_id, "item": item, "voter": voter, "choice": choice,
                                  "created_at": now()}, pk=("eval_id", "item", "voter"))
    return redecide(cfg, store, eval_id)


def votes(store: Store, eval_id: int) -> dict:
    counts = {r["choice"]: r["n"] for r in store.rows(
        "SELECT choice, COUNT(*) AS n FROM sbs_votes WHERE eval_id = ? GROUP BY choice", [eval_id])}
    return {k: counts.get(k, 0) for k in ("candidate", "production", "tie")}


@dataclass
class Ballot:
    """What reviewers are asked after an eval: how many answers differ, how many votes the check needs."""
    eval_id: int
    version: str
    comparisons: int
    votes: int
    needed: int


def ballot(cfg: Config, store: Store, eval_id: int) -> Ballot | None:
    """The blind batch of an eval, or None when no vote is wanted (the human check is not pending)."""
    row = store.one("SELECT adapter_version, metrics FROM evals WHERE id = ?", [eval_id])
    if row is None:
        raise UchiError(f"no eval #{eval_id}; see `uchi adapters`")
    check = next((c for c in json.loads(row["metrics"])["checks"] if c["gate"] == "human"), None)
    if check is None or not check.get("pending"):
        return None
    count = votes(store, eval_id)
    return Ballot(eval_id, row["adapter_version"], len(comparisons(store, eval_id)), sum(count.values()),
                  cfg.eval.min_votes)


def _forced(store: Store, version: str, since: str) -> dict | None:
    return store.one("SELECT actor, reason, created_at FROM promotions WHERE alias = 'production' AND "
                     "to_version = ? AND forced = 1 AND created_at >= ? ORDER BY id DESC LIMIT 1", [version, since])


def assess(cfg: Config, store: Store, eval_id: int) -> tuple[gate.Check, Evidence]:
    """The eval's human check from the evidence there is now, and which evidence that was."""
    row = store.one("SELECT adapter_version, created_at FROM evals WHERE id = ?", [eval_id])
    version, count = row["adapter_version"], votes(store, eval_id)
    wins, losses, ties = count["candidate"], count["production"], count["tie"]
    forced = _forced(store, version, row["created_at"])
    tallied = {"wins": wins, "losses": losses, "ties": ties, "min_votes": cfg.eval.min_votes,
               "forced": "" if forced is None else f"promoted by {forced['actor']} with --force \"{forced['reason']}\" "
                                                   f"at {forced['created_at'][:16]}"}
    check = gate.human(wins, losses, ties, cfg.eval)
    if not check.pending:
        return check, Evidence("votes", f"{wins + losses + ties} blind votes (of {cfg.eval.min_votes} needed): "
                                        f"{wins} for the candidate, {losses} for production, {ties} ties", **tallied)
    thumbs_check = canary_check(cfg, store, version)
    if thumbs_check is not None:
        return thumbs_check, Evidence("canary", thumbs_check.note, **tallied)
    if not comparisons(store, eval_id):
        check.pending, check.passed = False, True
        check.note = "the candidate answered every item as production did: nothing for a human to judge"
        return check, Evidence("identical", check.note, **tallied)
    if forced is not None:
        return check, Evidence("forced", f"no human evidence: {tallied['forced']}", **tallied)
    return check, Evidence("pending", f"{wins + losses + ties} of {cfg.eval.min_votes} blind votes so far: vote with "
                                      f"`uchi eval vote {eval_id}` or in Slack, or run a canary", **tallied)


def redecide(cfg: Config, store: Store, eval_id: int) -> dict:
    """Replace the eval's human check with the current evidence and store the new verdict."""
    row = store.one("SELECT metrics FROM evals WHERE id = ?", [eval_id])
    metrics = json.loads(row["metrics"])
    check, evidence = assess(cfg, store, eval_id)
    checks = [gate.Check(**c) for c in metrics["checks"] if c["gate"] != "human"] + [check]
    verdict = gate.decide(checks)
    metrics.update(checks=verdict.to_json(), human=asdict(evidence))
    store.db["evals"].update(eval_id, {"metrics": json.dumps(metrics, ensure_ascii=False),
                                       "passed": int(verdict.passed),
                                       "reasons": json.dumps(verdict.reasons, ensure_ascii=False)})
    detail = _detail(store, eval_id)
    detail.update(checks=metrics["checks"], passed=verdict.passed, reasons=verdict.reasons, human=metrics["human"])
    report.write(cfg, EvalResult.from_json(detail, adapters.get(store, detail["version"])))
    return {"passed": verdict.passed, "state": verdict.state, "reasons": verdict.reasons, "votes": votes(store, eval_id),
            "evidence": evidence}
