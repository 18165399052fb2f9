"""`uchi web`: the browser console (Ask, Teach, Review, Vote, Adapters, Data) on web.host:web.port.
Sign-in: behind an SSO proxy (web.trusted_header from web.trusted_proxies) or with UCHI_CONSOLE_TOKEN; sessions
and CSRF tokens are signed with UCHI_CONSOLE_SECRET. docs/web.md walks through it.
"""
from __future__ import annotations

from uchi.arguments import add, model_client


def web(cfg, args):
    from uchi.console import auth, server

    secrets = auth.secrets(cfg)
    w = cfg.web
    ways = [f"header {w.trusted_header} from {', '.join(w.trusted_proxies)}"] if w.trusted_header else []
    ways += ["the local admin token"] if secrets.token else []
    print(f"uchi web: http://{w.host}:{w.port}/ (sign-in: {' or '.join(ways)}; {len(w.admins)} admin(s), "
          f"{len(w.reviewers)} reviewer(s) besides Slack's; model server {cfg.serving.url}; store {cfg.state_dir})",
          flush=True)
    server.serve(cfg, secrets, model_client(cfg))


def register(commands) -> None:
    add(commands, "web", web, "run the web console for asking, teaching, reviewing, voting and promoting")
