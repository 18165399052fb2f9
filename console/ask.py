"""Ask (streamed, the same answering path as `uchi ask --stream`), rate, suggest a better answer, teach,
and an answer's lineage. Storing goes through data/feedback.py, as from Slack: the same redaction, rate
limits and review."""
from __future__ import annotations

import json
import queue
import threading

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from uchi.console import strings, web
from uchi.data import audit, feedback, lineage
from uchi.data.store import Store
from uchi.errors import UchiError
from uchi.serving.answers import ask as answer_question

CHANNEL = "web"


def _question_problem(request: Request, question: str) -> str | None:
    language, limit = web.lang(request), request.app.state.cfg.data.max_question_chars
    field = strings.text(language, "question")
    if not question:
        return strings.text(language, "field_empty", field=field)
    if len(question) > limit:
        return strings.text(language, "field_too_long", field=field, n=len(question), limit=limit)
    return None


def ask_page(request: Request) -> Response:
    return web.render(request, "ask.html")


async def ask_stream(request: Request) -> Response:
    """Newline-delimited JSON: {"text": answer so far}..., then {"done": answer id} or {"error": message}."""
    question = web.field(await request.form(), "question").strip()
    wrong = _question_problem(request, question)
    if wrong:
        return Response(json.dumps({"error": wrong}) + "\n", status_code=400, media_type="application/x-ndjson")
    app = request.app.state
    return StreamingResponse(_answer_lines(app.cfg, app.model, question, web.user(request).name),
                             media_type="application/x-ndjson", headers={"Cache-Control": "no-store"})


def _answer_lines(cfg, model, question: str, asker: str):
    pieces: queue.Queue = queue.Queue()

    def run() -> None:
        try:
            with Store.open(cfg) as store:
                row = answer_question(cfg, store, model, question, asker=asker, channel=CHANNEL,
                                      on_text=lambda text: pieces.put({"text": text}))
            pieces.put({"done": row.id})
        except UchiError as exc:
            pieces.put({"error": str(exc)})
        except Exception:
            pieces.put({"error": "the answer failed; the server log says why"})
            raise

    threading.Thread(target=run, name="uchi-web-answer", daemon=True).start()
    while True:
        piece = pieces.get()
        yield json.dumps(piece, ensure_ascii=False) + "\n"
        if "text" not in piece:
            return


def _answer(request: Request, store: Store, answer_id: int, action: str) -> dict | None:
    """The answer a URL names, if this user asked it here (reviewers may see any); others are refused."""
    me = web.user(request)
    row = store.one("SELECT * FROM answers WHERE id = ?", [answer_id])
    if row is not None and (me.reviewer or (row["asker"] == me.name and row["channel"] == CHANNEL)):
        return row
    audit.record(store, me.name, action, str(answer_id), "refused", "not an answer this user asked in the console")
    return None


def answer_page(request: Request, messages: list[str] | None = None, status: int = 200) -> Response:
    answer_id = request.path_params["answer_id"]
    with web.store(request) as store:
        row = _answer(request, store, answer_id, "web:answer")
        if row is None:
            return web.problem(request, strings.text(web.lang(request), "no_answer", id=answer_id), 404)
        sources = store.rows("SELECT s.rank, s.score, s.quoted, p.id, p.question, p.answer FROM answer_sources s JOIN pairs p "
                             "ON p.id = s.pair_id WHERE s.answer_id = ? ORDER BY s.rank", [answer_id])
        rating = store.one("SELECT value FROM ratings WHERE answer_id = ? AND user = ?",
                           [answer_id, web.user(request).name])
    return web.render(request, "answer.html", status=status, answer=row, sources=sources,
                      quoted=next((s for s in sources if s["quoted"]), None),
                      rating=rating["value"] if rating else None, messages=messages or [])


async def rate(request: Request) -> Response:
    value = 1 if (await request.form()).get("value") == "up" else -1
    answer_id = request.path_params["answer_id"]
    with web.store(request) as store:
        if _answer(request, store, answer_id, "web:rate") is None:
            return web.problem(request, strings.text(web.lang(request), "no_answer", id=answer_id), 404)
        feedback.rate(store, answer_id, web.user(request).name, value)
    return web.back(f"/answers/{answer_id}", "rated")


async def correct(request: Request) -> Response:
    form, answer_id = await request.form(), request.path_params["answer_id"]
    cfg, me = request.app.state.cfg, web.user(request)
    with web.store(request) as store:
        row = _answer(request, store, answer_id, "web:correct")
        if row is None:
            return web.problem(request, strings.text(web.lang(request), "no_answer", id=answer_id), 404)
        better = web.field(form, "answer")
        wrong = _problems(request, feedback.problems(cfg, row["question"], better, unchanged=row["answer"]))
        if wrong:
            return answer_page(request, wrong, 400)
        saved = feedback.save(cfg, store, row["question"], better, author=me.name, source="web:correction",
                              corrected=row)
    return answer_page(request, _told(request, saved))


def _problems(request: Request, found: dict) -> list[str]:
    language = web.lang(request)
    return [strings.text(language, key, field=strings.text(language, name), **values)
            for name, (key, values) in found.items()]


def _told(request: Request, saved: feedback.Saved) -> list[str]:
    language = web.lang(request)
    key = "merged" if saved.merged else ("saved_approved" if saved.status == "approved" else "saved_pending")
    told = [strings.text(language, key, pair_id=saved.pair_id)]
    if saved.redacted:
        told.append(strings.text(language, "redacted", kinds=", ".join(sorted(set(saved.redacted)))))
    if saved.preference:
        told.append(strings.text(language, "preference"))
    return told


async def teach(request: Request) -> Response:
    if request.method == "GET":
        return web.render(request, "teach.html", messages=[])
    form, cfg = await request.form(), request.app.state.cfg
    question, answer = web.field(form, "question"), web.field(form, "answer")
    wrong = _problems(request, feedback.problems(cfg, question, answer))
    if wrong:
        return web.render(request, "teach.html", status=400, messages=wrong, question=question, answer=answer)
    with web.store(request) as store:
        saved = feedback.save(cfg, store, question, answer, author=web.user(request).name, source="web:teach")
    return web.render(request, "teach.html", messages=_told(request, saved))


def why(request: Request) -> Response:
    answer_id = request.path_params["answer_id"]
    with web.store(request) as store:
        if _answer(request, store, answer_id, "web:why") is None:
            return web.problem(request, strings.text(web.lang(request), "no_answer", id=answer_id), 404)
        found = lineage.trace(store, answer_id)
    return web.render(request, "why.html", answer_id=answer_id, lineage=lineage.render(found, every_pair=False))


def lineage_of(request: Request) -> Response:
    """The adapters page's "answer #N" box: straight to that answer's lineage."""
    number = request.query_params.get("answer", "").strip().lstrip("#")
    if not number.isdigit():
        return web.problem(request, strings.text(web.lang(request), "not_found"), 404)
    return web.back(f"/answers/{number}/why")


POST = ["POST"]
routes = [Route("/lineage", lineage_of), Route("/ask", ask_page), Route("/ask/stream", ask_stream, methods=POST),
          Route("/answers/{answer_id:int}", answer_page), Route("/answers/{answer_id:int}/rate", rate, methods=POST),
          Route("/answers/{answer_id:int}/correct", correct, methods=POST),
          Route("/answers/{answer_id:int}/why", why), Route("/teach", teach, methods=["GET", "POST"])]
