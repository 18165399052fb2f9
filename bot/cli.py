"""`uchi bot`: the Slack bot. Socket Mode by default (SLACK_BOT_TOKEN + SLACK_APP_TOKEN, no public URL);
`uchi bot --http` serves Slack's HTTP requests (SLACK_BOT_TOKEN + SLACK_SIGNING_SECRET) on slack.host:port.
Installing the app in a workspace: docs/slack.md.
"""
from __future__ import annotations

from uchi.arguments import add


def bot(cfg, args):
    import logging

    from uchi.bot.app import build_app
    from uchi.bot.services import Services
    from uchi.bot.web import secrets, web_client

    tokens = secrets(http=args.http)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    services = Services.create(cfg)
    _check_store(services)
    app = _connect(lambda: build_app(services, web_client(cfg, tokens["SLACK_BOT_TOKEN"]),
                                     tokens.get("SLACK_SIGNING_SECRET")), cfg)
    print(_banner(cfg, args.http), flush=True)
    if not services.model.healthy():
        print(f"warning: the model server at {cfg.serving.url} does not answer yet; questions are told it is "
              "unavailable until it does (start it with `uchi serve`)", flush=True)
    try:
        _run(cfg, args.http, app, tokens, services)
    finally:
        # Questions already acked finish posting their placeholder and join the line before it closes: the
        # waiting ones are then told to ask again, none is dropped unseen.
        services.followups.shutdown(wait=True)
        dropped, running = services.backlog.close(cfg.slack.stop_grace_s)
        services.executor.shutdown(wait=False, cancel_futures=True)
        print(f"uchi bot stopped: {dropped} waiting question(s) told to ask again, {running} answer(s) cut short",
              flush=True)


def _run(cfg, http: bool, app, tokens, services) -> None:
    """Serve until SIGTERM or SIGINT."""
    import signal
    import threading

    stop = threading.Event()
    if http:
        from uchi.bot.server import PATH, serve

        front = serve(app, cfg.slack.host, cfg.slack.port, tokens["SLACK_SIGNING_SECRET"], acks=services.acks)

        def finish(signum, frame):
            front.server.should_exit = True
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, finish)
        print(f"listening on http://{cfg.slack.host}:{front.server_port}{PATH}", flush=True)
        try:
            front.serve_forever()
        finally:
            front.server_close()
        return
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    handler = SocketModeHandler(app, tokens["SLACK_APP_TOKEN"])
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    handler.connect()
    stop.wait()
    handler.close()


def _connect(build, cfg):
    """The App (which calls auth.test): a refused token or an unreachable Slack API is a clear error."""
    import urllib.error

    from slack_bolt.error import BoltError

    from uchi.errors import UchiError

    try:
        return build()
    except BoltError as exc:
        raise UchiError(f"Slack rejected SLACK_BOT_TOKEN ({exc}); copy the Bot User OAuth Token again "
                        "(docs/slack.md)") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UchiError(f"cannot reach the Slack API at {cfg.slack.api_url} ({reason}); check the network or "
                        "slack.api_url") from None


def _check_store(services) -> None:
    import sqlite3

    from uchi.errors import UchiError

    try:
        with services.store() as store:
            store.db.execute("SELECT 1")
    except (sqlite3.Error, OSError) as exc:
        raise UchiError(f"cannot open the store in {services.cfg.state_dir} ({exc}); check state.dir and its "
                        "permissions") from None


def _banner(cfg, http: bool) -> str:
    s = cfg.slack
    group = f" + members of {s.reviewer_group}" if s.reviewer_group else ""
    return (f"uchi bot ({'HTTP' if http else 'Socket Mode'}): Slack API {s.api_url}, model server {cfg.serving.url}, "
            f"{len(s.admins)} admin(s), {len(s.reviewers)} reviewer(s){group}, store {cfg.state_dir}")


def register(commands) -> None:
    sub = add(commands, "bot", bot, "run the Slack bot (Socket Mode; --http for Slack's HTTP requests)")
    sub.add_argument("--http", action="store_true",
                     help="serve HTTP on slack.host:slack.port (needs SLACK_SIGNING_SECRET) instead of Socket Mode "
                          "(needs SLACK_APP_TOKEN)")
