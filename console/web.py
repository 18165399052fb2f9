"""What every page shares: the signed-in user, their language, rendering a template, refusing, redirecting."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.templating import Jinja2Templates

from uchi.console import auth, strings
from uchi.data import audit
from uchi.data.store import Store
from uchi.data.text import clean

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def user(request: Request) -> auth.User:
    return request.state.user


def lang(request: Request) -> str:
    return strings.language(request.headers.get("accept-language"))


def store(request: Request) -> Store:
    """A connection per request: handlers run on many threads and SQLite transactions must not interleave."""
    return Store.open(request.app.state.cfg)


def field(form, name: str) -> str:
    """A text field as the person meant it: control and invisible characters removed, as from Slack."""
    return clean(str(form.get(name, "")))


def render(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
    language = lang(request)
    who = user(request) if hasattr(request.state, "user") else None
    context |= {"request": request, "lang": language, "user": who,
                "t": lambda key, **values: strings.text(language, key, **values),
                "csrf": auth.csrf_token(request.app.state.secrets.key, who.name) if who else "",
                "note": note(request)}
    return templates.TemplateResponse(request, name, context, status_code=status)


def problem(request: Request, message: str, status: int = 400) -> HTMLResponse:
    return render(request, "error.html", status=status, message=message)


def refuse(request: Request, role: str, action: str, target: str = "") -> HTMLResponse:
    """A user without the role: refused, audited like a refusal in Slack."""
    with store(request) as opened:
        audit.record(opened, user(request).name, action, target, "refused", f"needs the {role} role (web)")
    return problem(request, strings.text(lang(request), "needs_role", role=role), 403)


def back(path: str, note_key: str = "", **values) -> RedirectResponse:
    """After a POST, back to a page with a note (a strings key and its values, never free text)."""
    query = urlencode({"note": note_key, **values}) if note_key else ""
    joint = "&" if "?" in path else "?"
    return RedirectResponse(path + (joint + query if query else ""), status_code=303)


def note(request: Request) -> str:
    """The note a redirect asked for, worded in the user's language; unknown keys show nothing."""
    params = dict(request.query_params)
    key = params.pop("note", "")
    if key not in strings.STRINGS["en"]:
        return ""
    try:
        return strings.text(lang(request), key, **params)
    except KeyError:
        return ""
