"""A Slack app under test: the real Bolt app behind its real HTTP endpoint, a local Slack, a real brain."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from dataclasses import dataclass

import pytest

from tests.bot import PATIENT_S
from tests.bot.slack_api import BOT_TOKEN, SIGNING_SECRET, MockSlack, Sender


class HeldWork:
    """Holds the bot's work: every ``brain.ask`` blocks until :meth:`release` (or until the ``with`` block
    ends). An acknowledgement that comes back while the work is held did not wait for the work — the
    property behind Slack's 3 s limit, proved by order instead of by a clock (the time itself is measured by
    ``bench/slack_load.py``)."""

    def __init__(self, brain):
        self._released = threading.Event()
        self._cond = threading.Condition()
        self.held = 0  # brain.ask calls that reached the gate
        real = brain.ask

        def ask(*args, **kwargs):
            with self._cond:
                self.held += 1
                self._cond.notify_all()
            # past the test's own bound on the acknowledgement, so that one fails first and says why
            assert self._released.wait(2 * PATIENT_S), "the held work was never released"
            return real(*args, **kwargs)

        brain.ask = ask

    def __enter__(self) -> HeldWork:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def release(self) -> None:
        self._released.set()

    @property
    def released(self) -> bool:
        return self._released.is_set()

    def wait_held(self, n: int) -> None:
        """Wait until ``n`` requests are in the brain, held there (so their work has started, not ended)."""
        with self._cond:
            assert self._cond.wait_for(lambda: self.held >= n, PATIENT_S), (
                f"{self.held} of {n} reached the brain"
            )

    def acks(self, *sends) -> list[tuple[int, str, float]]:
        """Call each ``send`` (a function posting one request to the bot) concurrently, while the work stays
        held; return their HTTP answers. Fails if any waits for the held work."""
        with ThreadPoolExecutor(len(sends)) as pool:
            futures: list[Future] = [pool.submit(send) for send in sends]
            _, waiting = wait_all(futures, PATIENT_S)
            if waiting:
                self.release()  # let the work end, so the pool and the bot can shut down
            assert not waiting, (
                f"{len(waiting)} of {len(sends)} acknowledgement(s) did not come back while the bot's work was "
                "held: the acknowledgement waits for the work (Slack gives up after 3 s)"
            )
            assert not self.released
            return [f.result() for f in futures]


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

    def hold_work(self) -> HeldWork:
        """Hold every request's work in the brain until released (see :class:`HeldWork`)."""
        return HeldWork(self.brain)

    def settle(self, timeout: float = PATIENT_S) -> None:
        """Wait until the bot has nothing running or queued (after the listeners have queued their work)."""
        assert self.bot.queue.wait_idle(timeout)


@pytest.fixture
def slack_app(make_brain):
    """slack_app(instruct=, code=, judge=, retrieval=True, pictures=False, brain={…}, mock={…}, **slack settings);
    ``mock`` goes to :class:`MockSlack` (``agent=True``: a workspace with Slack's agent features)."""
    from mdbot.bot.app import SlackBot
    from mdbot.bot.server import http_server
    from mdbot.bot.settings import SlackSettings

    made = []

    def make(instruct=None, code=None, judge=None, retrieval=True, pictures=False, brain=None, mock=None,
             **overrides):  # fmt: skip
        slack = MockSlack(**(mock or {})).__enter__()
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
