"""A Slack app under test: the real Bolt app behind its real HTTP endpoint, a local Slack, a real brain."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest

from tests.bot import PATIENT_S
from tests.bot.slack_api import BOT_TOKEN, SIGNING_SECRET, MockSlack, Sender


@dataclass
class Harness:
    slack: MockSlack
    bot: object  # bot.app.SlackBot
    brain: object  # graph.service.Brain
    send: Sender

    def answers(self, channel: str, thread_ts: str, n: int = 1, timeout: float = PATIENT_S) -> list:
        """Wait until ``n`` answers are in the thread; return them."""
        ok = self.slack.wait_for(lambda: len(self.slack.final(channel, thread_ts)) >= n, timeout)
        assert ok, (
            f"no answer in {channel}:{thread_ts}: {[m.all_text() for m in self.slack.thread(channel, thread_ts)]}"
        )
        return self.slack.final(channel, thread_ts)

    def settle(self, timeout: float = PATIENT_S) -> None:
        """Wait until the bot has nothing running or queued (after the listeners have queued their work)."""
        assert self.bot.queue.wait_idle(timeout)


@pytest.fixture
def slack_app(make_brain):
    """slack_app(instruct=, code=, judge=, retrieval=True, pictures=False, brain={…}, **slack settings)."""
    from mdbot.bot.app import SlackBot
    from mdbot.bot.server import http_server
    from mdbot.bot.settings import SlackSettings

    made = []

    def make(instruct=None, code=None, judge=None, retrieval=True, pictures=False, brain=None, **overrides):
        slack = MockSlack().__enter__()
        the_brain = make_brain(instruct, code, judge, retrieval=retrieval, pictures=pictures, **(brain or {}))
        values = dict(
            bot_token=BOT_TOKEN,
            signing_secret=SIGNING_SECRET,
            api_url=slack.api_url,
            progress_interval_s=0,
        )
        settings = SlackSettings(_env_file=None, **{**values, **overrides})
        bot = SlackBot(settings, the_brain)
        server = http_server(bot.app, 0, "127.0.0.1")
        threading.Thread(target=server.serve_forever, daemon=True).start()
        send = Sender(f"http://127.0.0.1:{server.server_port}/slack/events", slack.base + "/response/")
        made.append((slack, bot, server))
        return Harness(slack, bot, the_brain, send)

    yield make
    for slack, bot, server in made:
        server.shutdown()
        server.server_close()
        bot.close(grace_s=60)
        slack.__exit__(None, None, None)
