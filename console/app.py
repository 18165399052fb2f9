"""The console's Starlette app: sign-in and CSRF in front of every route, then the pages.

Nothing is served without sign-in: a GET without it goes to /signin, a POST is refused. Every POST must carry
the user's CSRF token (form field `csrf` or header X-CSRF-Token); one without it is refused (403) and audited.
"""
from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from uchi.config import Config
from uchi.console import adapters, ask, auth, dataset, review, strings, web
from uchi.data import audit
from uchi.data.store import Store
from uchi.errors import UchiError
from uchi.modelclient import ModelClient

OPEN = ("/signin",)
STATIC = Path(__file__).parent / "static"


class SignIn:
    """ASGI middleware: finds the user (proxy header or session cookie) and checks CSRF on every POST."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope, receive)
        state = scope["app"].state
        cfg, keys = state.cfg, state.secrets
        name = auth.from_proxy(cfg, request.client.host if request.client else None, request.headers) \
            or auth.session_user(keys.key, request.cookies.get(auth.COOKIE))
        if name is None:
            if request.url.path in OPEN:
                return await self.app(scope, receive, send)
            if request.method == "GET":
                return await RedirectResponse("/signin", status_code=303)(scope, receive, send)
            return await self._forged(request, "anonymous")(scope, receive, send)
        scope.setdefault("state", {})["user"] = auth.roles(cfg, name)
        if request.method == "POST":
            offered = request.headers.get("x-csrf-token")
            if offered is None:
                body = await request.body()  # kept, so that form() can parse it and the handler read it again
                offered = (await request.form()).get("csrf")
                receive = _replay(body)
            if not auth.csrf_ok(keys.key, name, offered):
                return await self._forged(request, name)(scope, receive, send)
        return await self.app(scope, receive, send)

    @staticmethod
    def _forged(request: Request, name: str) -> Response:
        with Store.open(request.app.state.cfg) as store:
            audit.record(store, name, "web:" + request.url.path, "", "refused", "POST without a valid CSRF token "
                         "or sign-in")
        lang = strings.language(request.headers.get("accept-language"))
        return PlainTextResponse(strings.text(lang, "forged"), status_code=403)


def _replay(body: bytes):
    """Reading the form consumed the request body; the handler reads it again from here."""
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}
    return receive


async def signin(request: Request) -> Response:
    """The local admin token, exchanged for a signed session cookie; a wrong one is refused and audited."""
    if request.method == "GET":
        return web.render(request, "signin.html")
    form = await request.form()
    keys, cfg, throttle = request.app.state.secrets, request.app.state.cfg, request.app.state.throttle
    address = request.client.host if request.client else "unknown"
    wait = throttle.wait_s(address)
    if wait:
        lang = strings.language(request.headers.get("accept-language"))
        return PlainTextResponse(strings.text(lang, "signin_wait", minutes=-(-wait // 60)), status_code=429,
                                 headers={"Retry-After": str(wait)})
    if not auth.token_matches(keys, str(form.get("token", ""))):
        throttle.failed(address)
        with Store.open(cfg) as store:
            audit.record(store, "anonymous", "web:signin", "", "refused", f"wrong admin token from {address}")
        return web.render(request, "signin.html", status=403, failed=True)
    throttle.succeeded(address)
    response = RedirectResponse("/ask", status_code=303)
    response.set_cookie(auth.COOKIE, auth.session(keys.key, auth.LOCAL_ADMIN, cfg.web.session_hours),
                        max_age=cfg.web.session_hours * 3600, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


def signout(request: Request) -> Response:
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(auth.COOKIE)
    return response


def script(request: Request) -> Response:
    return FileResponse(STATIC / "console.js", media_type="text/javascript")


def build(cfg: Config, secrets: auth.Secrets, model: ModelClient) -> Starlette:
    routes = [Route("/", lambda request: RedirectResponse("/ask", status_code=303)),
              Route("/signin", signin, methods=["GET", "POST"]), Route("/signout", signout, methods=["POST"]),
              Route("/console.js", script), *ask.routes, *review.routes, *adapters.routes, *dataset.routes]
    app = Starlette(routes=routes, middleware=[Middleware(SignIn)], exception_handlers={UchiError: _uchi_error})
    app.state.cfg, app.state.secrets, app.state.model = cfg, secrets, model
    app.state.throttle = auth.Throttle()
    return app


def _uchi_error(request: Request, exc: UchiError) -> Response:
    """The one place a UchiError becomes a message for the browser."""
    return web.problem(request, str(exc))
