"""HTTP mode: Bolt's WSGI adapter on a threaded server. Slack posts commands, events and interactivity
to http(s)://HOST/slack/events; put it behind your TLS-terminating proxy (Slack only calls https URLs).
"""
from __future__ import annotations

import logging
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

PATH = "/slack/events"
log = logging.getLogger("uchi.bot")


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Requests(WSGIRequestHandler):
    def log_message(self, format, *args):
        # Only the request line and status; bodies (message text) never reach a log.
        log.debug("http: " + format, *args)


def serve(app: App, host: str, port: int) -> _Server:
    """A server bound to host:port (0 picks a free port: see server.server_port); call serve_forever()."""
    return make_server(host, port, SlackRequestHandler(app, path=PATH), server_class=_Server,
                       handler_class=_Requests)
