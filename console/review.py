"""The review queue, built for volume: filters, keyset pages (a page of 10,000 pending pairs costs what a
page of 100 does), the conflict and merged-repeat context of each pair, edit in place, bulk approve/reject.
Decisions go through data/pairs.py (review, rewrite) as from Slack and the CLI, and are audited."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from uchi.console import strings, web
from uchi.data import audit, conflicts, feedback
from uchi.data.pairs import review, rewrite
from uchi.data.store import Store

OPEN_CONFLICT = ("p.id IN (SELECT pair_a FROM conflicts WHERE status = 'open' "
                 "UNION SELECT pair_b FROM conflicts WHERE status = 'open')")


@dataclass
class Filters:
    language: str = ""
    source: str = ""
    author: str = ""
    flag: str = ""    # "conflicts", "duplicates" or ""
    after: int = 0    # the last id of the previous page

    @classmethod
    def of(cls, params) -> "Filters":
        after = params.get("after", "0")
        return cls(params.get("language", ""), params.get("source", ""), params.get("author", ""),
                   params.get("flag", "") if params.get("flag") in ("conflicts", "duplicates") else "",
                   int(after) if after.isdigit() else 0)

    def where(self) -> tuple[str, list]:
        clauses, params = ["p.status = 'pending'"], []
        for column in ("language", "source", "author"):
            if getattr(self, column):
                clauses.append(f"p.{column} = ?")
                params.append(getattr(self, column))
        if self.flag == "conflicts":
            clauses.append(OPEN_CONFLICT)
        elif self.flag == "duplicates":
            clauses.append("p.id IN (SELECT pair_id FROM pair_merges)")
        return " AND ".join(clauses), params

    def query(self, **changes) -> str:
        values = {k: v for k, v in (vars(self) | changes).items() if v}
        return urlencode(values)


def page(store: Store, filters: Filters, size: int) -> dict:
    where, params = filters.where()
    rows = store.rows(f"SELECT p.* FROM pairs p WHERE {where} AND p.id > ? ORDER BY p.id LIMIT ?",
                      [*params, filters.after, size + 1])
    more, rows = len(rows) > size, rows[:size]
    total = store.one(f"SELECT COUNT(*) AS n FROM pairs p WHERE {where}", params)["n"]
    ids = [row["id"] for row in rows]
    if ids:
        _context(store, rows, ids)
    return {"rows": rows, "total": total, "more": more, "last": ids[-1] if ids else 0}


def _context(store: Store, rows: list[dict], ids: list[int]) -> None:
    """Each row's open conflicts (the other side's answer) and the repeats merged into it."""
    found = conflicts.involving(store, ids)
    others = {c["pair_b"] if c["pair_a"] in ids else c["pair_a"] for c in found}
    answers = {r["id"]: r for r in store.rows(
        f"SELECT id, answer, status FROM pairs WHERE id IN ({','.join('?' * len(others))})", list(others))} \
        if others else {}
    marks = ",".join("?" * len(ids))
    merges = {r["pair_id"]: r for r in store.rows(
        f"SELECT pair_id, COUNT(*) AS n, MIN(question) AS question FROM pair_merges WHERE pair_id IN ({marks}) "
        "GROUP BY pair_id", ids)}
    for row in rows:
        row["conflicts"] = [answers[other] | {"other": other} for c in found
                            for other in [c["pair_b"] if c["pair_a"] == row["id"] else c["pair_a"]]
                            if row["id"] in (c["pair_a"], c["pair_b"]) and other in answers]
        row["merges"] = merges.get(row["id"])


def facets(store: Store) -> dict[str, list[dict]]:
    """The values to filter by, with their pending counts (the 100 most frequent authors)."""
    return {column: store.rows(f"SELECT {column} AS value, COUNT(*) AS n FROM pairs WHERE status = 'pending' "
                               f"GROUP BY {column} ORDER BY n DESC, value LIMIT 100")
            for column in ("language", "source", "author")}


def queue_page(request: Request) -> Response:
    me = web.user(request)
    if not me.reviewer:
        return web.refuse(request, "reviewer", "web:review")
    filters = Filters.of(request.query_params)
    with web.store(request) as store:
        found = page(store, filters, request.app.state.cfg.web.page_size)
        values = facets(store)
    return web.render(request, "review.html", filters=filters, facets=values, **found)


async def decide(request: Request) -> Response:
    """Approve or reject the selected pending pairs at once; one audit row names them all."""
    me = web.user(request)
    if not me.reviewer:
        return web.refuse(request, "reviewer", "web:review")
    form = await request.form()
    status = "approved" if form.get("action") == "approve" else "rejected"
    ids = [int(value) for value in form.getlist("id") if str(value).isdigit()]
    back = "/review?" + str(form.get("return", ""))
    if not ids:
        return web.back(back, "select_some")
    with web.store(request) as store:
        marks = ",".join("?" * len(ids))
        pending = [r["id"] for r in store.rows(f"SELECT id FROM pairs WHERE status = 'pending' AND id IN ({marks})",
                                               ids)]
        changed = review(store, pending, status, me.name)
        audit.record(store, me.name, "web:review", ",".join(map(str, pending)), "done", f"{status} {changed}")
    return web.back(back.rstrip("?"), "reviewed", n=changed,
                    status=strings.text(web.lang(request), status))


async def edit(request: Request) -> Response:
    me, cfg = web.user(request), request.app.state.cfg
    if not me.reviewer:
        return web.refuse(request, "reviewer", "web:review")
    form, pair_id = await request.form(), request.path_params["pair_id"]
    question, answer = web.field(form, "question"), web.field(form, "answer")
    language = web.lang(request)
    wrong = feedback.problems(cfg, question, answer)
    if wrong:
        return web.problem(request, " ".join(strings.text(language, key, field=strings.text(language, name), **values)
                                             for name, (key, values) in wrong.items()))
    with web.store(request) as store:
        pair = store.one("SELECT * FROM pairs WHERE id = ? AND status = 'pending'", [pair_id])
        if pair is None:
            return web.problem(request, strings.text(language, "not_found"), 404)
        rewrite(cfg, store, pair, question, answer, me.name)
        audit.record(store, me.name, "web:review", str(pair_id), "done", "edited and approved")
    return web.back("/review?" + str(form.get("return", "")), "reviewed", n=1,
                    status=strings.text(language, "approved"))


routes = [Route("/review", queue_page), Route("/review/decide", decide, methods=["POST"]),
          Route("/review/{pair_id:int}/edit", edit, methods=["POST"])]
