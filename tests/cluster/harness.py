"""A SlackBot with a cluster behind the real Bolt HTTP endpoint and the local Slack Web API of tests/bot, and
the clicks and waits the cluster's Slack tests make."""

from __future__ import annotations

import json
import threading

from tests.bot.slack_api import BOT_TOKEN, BOT_USER, SIGNING_SECRET, MockSlack, Sender, message_event
from tests.cluster import PATIENT_S
from tests.cluster.conftest import cluster_settings


class Bot:
    def __init__(self, slack, bot, server, send):
        self.slack, self.bot, self.server, self.send = slack, bot, server, send

    @property
    def store(self):
        return self.bot.cluster.cluster.store

    def messages(self, channel: str, thread_ts: str) -> list:
        return self.slack.thread(channel, thread_ts)

    def text(self, channel: str, thread_ts: str) -> str:
        return "\n".join(m.all_text() for m in self.messages(channel, thread_ts))

    def with_action(self, channel: str, thread_ts: str, action_id: str):
        """Wait for a message of the thread whose (current) blocks hold the button ``action_id``."""

        def find():
            for m in self.messages(channel, thread_ts):
                blocks = m.edits[-1]["blocks"] if m.edits and m.edits[-1].get("blocks") else m.blocks
                for b in blocks or []:
                    for e in b.get("elements", []) if b.get("type") == "actions" else []:
                        if e.get("action_id") == action_id:
                            return m, e
            return None

        found = self.slack.wait_for(find, PATIENT_S) and find()
        assert found, f"no {action_id} button in the thread: {self.text(channel, thread_ts)}"
        return found

    def click(self, user: str, channel: str, thread_ts: str, message, button) -> None:
        payload = {
            "type": "block_actions", "user": {"id": user}, "team": {"id": "T0LAB"}, "api_app_id": "A0MDBOT",
            "channel": {"id": channel}, "message": {"ts": message.ts, "thread_ts": thread_ts},
            "container": {"type": "message", "channel_id": channel, "message_ts": message.ts},
            "trigger_id": "1.trigger", "actions": [{**button, "type": "button", "action_ts": "1"}],
        }  # fmt: skip
        assert self.send.interactive(payload)[0] == 200

    def current(self, message) -> str:
        last = message.edits[-1] if message.edits else {"text": message.text, "blocks": message.blocks}
        return json.dumps(last)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        for job in self.store.open_jobs():
            self.bot.cluster.cluster.transport.run(["scancel", job.cluster_id or "0"])
        self.bot.close(grace_s=60)


def build(brain, root, slack: MockSlack, **overrides) -> Bot:
    """A SlackBot for ``brain`` with a cluster on the session's Slurm, serving HTTP on a free port."""
    from mdbot.bot.app import SlackBot
    from mdbot.bot.server import http_server
    from mdbot.bot.settings import SlackSettings
    from mdbot.cluster.service import Cluster
    from mdbot.cluster.store import JobStore

    cluster = Cluster(
        cluster_settings(root, **overrides), JobStore(brain.journal.engine), brain.context.sandbox
    )
    settings = SlackSettings(_env_file=None, bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET,
                             api_url=slack.api_url, progress_interval_s=0)  # fmt: skip
    bot = SlackBot(settings, brain, cluster=cluster)
    server = http_server(bot.app, 0, "127.0.0.1")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    send = Sender(f"http://127.0.0.1:{server.server_port}/slack/events", slack.base + "/response/")
    return Bot(slack, bot, server, send)


def ask(b: Bot, ts: str, text: str, script: str, user: str = "UALICE") -> None:
    f = b.slack.host_file("in.lj", script)
    event = message_event(f"<@{BOT_USER}> {text}", kind="app_mention", ts=ts, files=[f], user=user)
    assert b.send.event(event)[0] == 200


def confirm(b: Bot, ts: str, user: str = "UALICE"):
    message, button = b.with_action("CLAB", ts, "mdbot_cluster_confirm")
    b.click(user, "CLAB", ts, message, button)
    return message


def final(b: Bot, ts: str, words: str) -> None:
    assert b.slack.wait_for(lambda: words in b.text("CLAB", ts), PATIENT_S), b.text("CLAB", ts)


__all__ = ["Bot", "build", "ask", "confirm", "final", "json"]
