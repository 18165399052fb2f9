"""`uchi bot`: the Slack bot. Socket Mode by default (SLACK_BOT_TOKEN + SLACK_APP_TOKEN, no public URL);
`uchi bot --http` serves Slack's HTTP requests (SLACK_BOT_TOKEN + SLACK_SIGNING_SECRET) on slack.host:port.
Installing the app in a workspace: docs/slack.md.
"""
from __future__ import annotations

from uchi.arguments import add


def bot(cfg, args):
    import logging

    from slack_bolt.error import BoltError

    from uchi.bot.app import build_app
    from uchi.bot.services import Services
    from uchi.bot.web import secrets, web_client
    from uchi.errors import UchiError

    tokens = secrets(http=args.http)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    services = Services.create(cfg)
    try:
        app = build_app(services, web_client(cfg, tokens["SLACK_BOT_TOKEN"]), tokens.get("SLACK_SIGNING_SECRET"))
    except BoltError as exc:
        raise UchiError(f"Slack rejected SLACK_BOT_TOKEN ({exc}); copy the Bot User OAuth Token again "
                        "(docs/slack.md)") from None
    print(_banner(cfg, args.http), flush=True)
    if args.http:
        from uchi.bot.server import PATH, serve

        server = serve(app, cfg.slack.host, cfg.slack.port)
        print(f"listening on http://{cfg.slack.host}:{server.server_port}{PATH}", flush=True)
        server.serve_forever()
    else:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        SocketModeHandler(app, tokens["SLACK_APP_TOKEN"]).start()


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
