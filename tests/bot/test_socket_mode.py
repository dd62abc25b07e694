"""Socket Mode: the same app over a websocket, against a local server that speaks Slack's envelope protocol
(``apps.connections.open`` → ``hello`` → envelopes → acknowledgements by ``envelope_id``)."""

from __future__ import annotations

import json
import queue
import threading

import pytest

from tests.bot import PATIENT_S
from tests.bot.slack_api import APP_TOKEN, BOT_TOKEN, BOT_USER, TEAM, MockSlack, message_event


class SocketServer:
    def __init__(self):
        from websockets.sync.server import serve

        self.acks: queue.Queue = queue.Queue()
        self.connected = threading.Event()
        self._ws = None
        self._server = serve(self._handle, "127.0.0.1", 0)
        self.port = self._server.socket.getsockname()[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _handle(self, ws):
        self._ws = ws
        ws.send(json.dumps({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0MDBOT"}}))
        self.connected.set()
        for raw in ws:
            self.acks.put(json.loads(raw))

    def envelope(self, kind: str, payload: dict, envelope_id: str, accepts_response: bool = False) -> dict:
        self._ws.send(json.dumps({"envelope_id": envelope_id, "type": kind, "payload": payload,
                                  "accepts_response_payload": accepts_response, "retry_attempt": 0}))  # fmt: skip
        while True:
            ack = self.acks.get(timeout=PATIENT_S)
            if ack.get("envelope_id") == envelope_id:
                return ack

    def close(self):
        self._server.shutdown()


@pytest.fixture
def socket_bot(make_brain):
    from mdbot.bot.app import SlackBot
    from mdbot.bot.server import socket_mode_handler
    from mdbot.bot.settings import SlackSettings

    with MockSlack() as slack:
        server = SocketServer()
        slack.socket_url = f"ws://127.0.0.1:{server.port}/link/?ticket=test"
        settings = SlackSettings(
            _env_file=None, bot_token=BOT_TOKEN, app_token=APP_TOKEN, api_url=slack.api_url
        )
        assert settings.socket_mode and not settings.problems()
        bot = SlackBot(settings, make_brain())
        handler = socket_mode_handler(bot.app, APP_TOKEN)
        handler.connect()
        assert server.connected.wait(PATIENT_S), "the app did not open the websocket"
        yield slack, server, bot
        handler.close()
        server.close()
        bot.close(grace_s=60)


def test_socket_mode_answers_a_mention_and_acks_commands(socket_bot):
    slack, server, bot = socket_bot
    opened = slack.calls_of("apps.connections.open")
    assert opened and opened[0].auth == f"Bearer {APP_TOKEN}"  # the app-level token, only there
    event = message_event(f"<@{BOT_USER}> What does the Tdamp parameter of fix nvt mean?", kind="app_mention",
                          ts="3000.000100")  # fmt: skip
    payload = {"team_id": TEAM, "api_app_id": "A0MDBOT", "event": event, "type": "event_callback",
               "event_id": "EvSOCK0001", "event_time": 1}  # fmt: skip
    ack = server.envelope("events_api", payload, "env-1")
    assert ack == {"envelope_id": "env-1"}
    assert slack.wait_for(lambda: slack.final("CLAB", "3000.000100"))
    assert "/patch_29Aug2024/doc/src/fix_nh.rst" in slack.final("CLAB", "3000.000100")[0].all_text()
    # a slash command's ack carries the ephemeral help as the envelope's payload
    command = {"command": "/lammps", "text": "help", "user_id": "UALICE", "channel_id": "CLAB",
               "channel_name": "md-lab", "team_id": TEAM, "response_url": slack.base + "/response/1",
               "trigger_id": "1.t"}  # fmt: skip
    ack = server.envelope("slash_commands", command, "env-2", accepts_response=True)
    assert ack["envelope_id"] == "env-2" and "Ask a question" in ack["payload"]["text"]
