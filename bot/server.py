"""Serving the app: Socket Mode (a websocket out to Slack, no public URL) or HTTP (Slack posts to us).

HTTP mode uses Bolt's WSGI adapter under a threading WSGI server from the standard library: Bolt acks on the
request thread and hands the work to lazy listeners, so a few request threads suffice. ``GET /healthz``
answers liveness and ``GET /readyz`` readiness (the bot takes work, its
database answers: 200, else 503) for load balancers and orchestrators. Both modes stop on SIGINT/SIGTERM: waiting requests are told to resend, running
ones get a grace period.
"""

from __future__ import annotations

import logging
import signal
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops a burst of events (Slack retries them a second later)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)


def wsgi_app(bolt_app, ready=None):
    """Bolt at /slack/events, liveness at /healthz, readiness at /readyz (``ready() -> (ok, why)``), 404
    elsewhere."""
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    handler = SlackRequestHandler(bolt_app, path=EVENTS_PATH)

    def app(environ, start_response):
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/healthz" and method == "GET":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        if path == "/readyz" and method == "GET":
            ok, why = ready() if ready else (True, "ready")
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return [why.encode() + b"\n"]
        if path != EVENTS_PATH or method != "POST":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        return handler(environ, start_response)

    return app


def http_server(bolt_app, port: int, host: str = "0.0.0.0", ready=None) -> WSGIServer:
    """A started-on-demand server (``serve_forever``); port 0 picks a free one (``server.server_port``)."""
    return make_server(
        host, port, wsgi_app(bolt_app, ready), server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
    )


def socket_mode_handler(bolt_app, app_token: str):
    """Bolt's Socket Mode adapter on websocket-client (it also speaks ws:// to local test servers)."""
    from slack_bolt.adapter.socket_mode.websocket_client import SocketModeHandler

    return SocketModeHandler(bolt_app, app_token=app_token)


def serve(bot, settings, on_ready=None) -> None:
    """Run until SIGINT/SIGTERM, then drain the queue (docs/architecture.md: nothing lost without a word)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if settings.socket_mode:
        handler = socket_mode_handler(bot.app, settings.app_token.get_secret_value())
        handler.connect()
        if on_ready:
            on_ready("Socket Mode")
        stop.wait()
        handler.close()
    else:
        server = http_server(bot.app, settings.port, ready=bot.ready)
        thread = threading.Thread(target=server.serve_forever, name="mdbot-http", daemon=True)
        thread.start()
        if on_ready:
            on_ready(f"HTTP on port {server.server_port}, path {EVENTS_PATH}")
        stop.wait()
        server.shutdown()
    bot.close()
