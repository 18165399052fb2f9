"""Adapters and evals: the registry with its aliases, each eval's report in the page (its plots, intervals,
loss and validation curves), Promote / Rollback / Canary for admins through serving's own functions (the
same gate rules as `uchi promote` and Slack's /promote), and blind side-by-side voting (evals/human.py)."""
from __future__ import annotations

import re
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from uchi.console import strings, web
from uchi.errors import UchiError
from uchi.evals import human
from uchi.serving import canary, registry

_BODY = re.compile(r"<body>(.*)</body>", re.S)


def adapters_page(request: Request) -> Response:
    with web.store(request) as store:
        rows = store.rows("SELECT a.version, a.created_at, a.run_id, a.snapshot, e.id AS eval_id, e.passed "
                          "FROM adapters a LEFT JOIN evals e ON e.id = (SELECT MAX(id) FROM evals "
                          "WHERE adapter_version = a.version) ORDER BY a.created_at DESC, a.version")
        aliases = store.rows("SELECT name, version, updated_at FROM aliases ORDER BY name")
        running = canary.running(store)
    return web.render(request, "adapters.html", adapters=rows, aliases=aliases, canary=running)


def eval_page(request: Request) -> Response:
    """The eval's own HTML report (written by evals/report.py from escaped values) inside the console."""
    eval_id = request.path_params["eval_id"]
    with web.store(request) as store:
        row = store.one("SELECT id, adapter_version, report_path FROM evals WHERE id = ?", [eval_id])
    page = Path(row["report_path"]).with_suffix(".html") if row else None
    if page is None or not page.is_file():
        return web.problem(request, strings.text(web.lang(request), "not_found"), 404)
    body = _BODY.search(page.read_text(encoding="utf-8"))
    return web.render(request, "eval.html", evaluation=row, report=body.group(1) if body else "")


async def _admin_form(request: Request, action: str):
    me = web.user(request)
    if not me.admin:
        return me, None, web.refuse(request, "admin", action)
    return me, await request.form(), None


async def _move_version(request: Request, action: str, move, done: str) -> Response:
    """An admin's promote or canary form: the version (and an optional forced reason) handed to `move`, which
    loads and smoke-tests the adapter — seconds, so off the event loop."""
    me, form, refused = await _admin_form(request, action)
    if refused:
        return refused
    app, version = request.app.state, str(form.get("version", ""))
    reason = str(form.get("reason", "")).strip() or None

    def run() -> None:
        with web.store(request) as store:
            move(app.cfg, store, app.model, version, actor=me.name, force_reason=reason)
    await run_in_threadpool(run)
    return web.back("/adapters", done, version=version)


async def promote(request: Request) -> Response:
    return await _move_version(request, "web:promote", registry.promote, "promoted")


async def start_canary(request: Request) -> Response:
    return await _move_version(request, "web:canary", canary.start, "canary_started")


async def rollback(request: Request) -> Response:
    me, _, refused = await _admin_form(request, "web:rollback")
    if refused:
        return refused
    app = request.app.state

    def move_back() -> dict:
        with web.store(request) as store:
            return registry.rollback(app.cfg, store, app.model, actor=me.name)
    result = await run_in_threadpool(move_back)
    return web.back("/adapters", "rolled_back",
                    version=result["version"] or strings.text(web.lang(request), "base_model"))


def _eval_id(request: Request, store) -> int | None:
    chosen = request.query_params.get("eval", "")
    if chosen.isdigit():
        return int(chosen)
    return store.one("SELECT MAX(id) AS id FROM evals")["id"]


def vote_page(request: Request) -> Response:
    me = web.user(request)
    if not me.reviewer:
        return web.refuse(request, "reviewer", "web:vote")
    with web.store(request) as store:
        eval_id = _eval_id(request, store)
        shown = human.next_comparison(store, eval_id, me.name) if eval_id else None
        count = sum(human.votes(store, eval_id).values()) if eval_id else 0
        version = store.one("SELECT adapter_version FROM evals WHERE id = ?", [eval_id]) if eval_id else None
    return web.render(request, "vote.html", shown=shown, eval_id=eval_id, count=count,
                      min_votes=request.app.state.cfg.eval.min_votes,
                      version=version["adapter_version"] if version else "")


async def vote(request: Request) -> Response:
    me = web.user(request)
    if not me.reviewer:
        return web.refuse(request, "reviewer", "web:vote")
    form = await request.form()
    eval_id, item = str(form.get("eval_id", "")), str(form.get("item", ""))
    if not (eval_id.isdigit() and item.isdigit()):
        raise UchiError("a vote names an eval and an item by number")
    eval_id, item = int(eval_id), int(item)
    with web.store(request) as store:
        human.record_vote(request.app.state.cfg, store, eval_id, item, me.name, str(form.get("pick", "")))
    return web.back(f"/vote?eval={eval_id}", "voted")


POST = ["POST"]
routes = [Route("/adapters", adapters_page), Route("/evals/{eval_id:int}", eval_page),
          Route("/adapters/promote", promote, methods=POST), Route("/adapters/rollback", rollback, methods=POST),
          Route("/adapters/canary", start_canary, methods=POST), Route("/vote", vote_page),
          Route("/vote", vote, methods=POST)]
