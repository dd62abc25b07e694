"""The cluster from Slack, end to end: signed events and button clicks → the real Bolt app → the sandbox test
run → a real Slurm → the poller → edits, the final summary and uploads in the local Slack Web API."""

from __future__ import annotations

import json
import threading

import pytest

from tests.bot.slack_api import BOT_TOKEN, BOT_USER, SIGNING_SECRET, MockSlack, Sender, message_event
from tests.cluster import PATIENT_S
from tests.cluster.conftest import cluster_settings, lj, wait_for
from tests.conftest import requires_bwrap

pytestmark = requires_bwrap


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


@pytest.fixture
def slack_cluster(make_brain, tmp_path, slurm):
    """slack_cluster(data_dir=, slack=, **cluster settings) -> Bot: a SlackBot with a cluster."""
    from mdbot.bot.app import SlackBot
    from mdbot.bot.server import http_server
    from mdbot.bot.settings import SlackSettings
    from mdbot.cluster.service import Cluster
    from mdbot.cluster.store import JobStore

    made, slacks = [], []

    def make(data_dir=None, slack=None, pictures=False, **overrides):
        if slack is None:
            slack = MockSlack().__enter__()
            slacks.append(slack)
        brain = make_brain(retrieval=False, data_dir=data_dir or tmp_path / "brain", pictures=pictures)
        cluster = Cluster(
            cluster_settings(tmp_path, **overrides), JobStore(brain.journal.engine), brain.context.sandbox
        )
        settings = SlackSettings(_env_file=None, bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET,
                                 api_url=slack.api_url, progress_interval_s=0)  # fmt: skip
        bot = SlackBot(settings, brain, cluster=cluster)
        server = http_server(bot.app, 0, "127.0.0.1")
        threading.Thread(target=server.serve_forever, daemon=True).start()
        send = Sender(f"http://127.0.0.1:{server.server_port}/slack/events", slack.base + "/response/")
        made.append((bot, server))
        return Bot(slack, bot, server, send)

    yield make
    for bot, server in made:
        server.shutdown()
        server.server_close()
        for job in bot.cluster.cluster.store.open_jobs():
            bot.cluster.cluster.transport.run(["scancel", job.cluster_id or "0"])
        bot.close(grace_s=60)
    for slack in slacks:
        slack.__exit__(None, None, None)


def _ask(b: Bot, ts: str, text: str, script: str, user: str = "UALICE") -> None:
    f = b.slack.host_file("in.lj", script)
    event = message_event(f"<@{BOT_USER}> {text}", kind="app_mention", ts=ts, files=[f], user=user)
    assert b.send.event(event)[0] == 200


def _confirm(b: Bot, ts: str, user: str = "UALICE"):
    message, button = b.with_action("CLAB", ts, "mdbot_cluster_confirm")
    b.click(user, "CLAB", ts, message, button)
    return message


def _final(b: Bot, ts: str, words: str):
    assert b.slack.wait_for(lambda: words in b.text("CLAB", ts), PATIENT_S), b.text("CLAB", ts)


def test_submit_from_a_thread_confirm_follow_and_report_with_files(slack_cluster):
    b = slack_cluster(pictures=True)
    _ask(b, "3000.000100", "run this on the cluster --time 00:05:00", lj(2000))
    confirmation, _ = b.with_action("CLAB", "3000.000100", "mdbot_cluster_confirm")
    shown = b.current(confirmation)
    assert (
        "Ready to submit to testcluster" in shown
        and "time 00:05:00" in shown
        and "Test run in the sandbox:* ok, 50 steps" in shown
    )
    assert not b.store.recent()  # nothing is submitted before the member confirms
    # another member cannot confirm it
    _confirm(b, "3000.000100", user="UBOB")
    assert b.slack.wait_for(lambda: any("Only <@UALICE>" in e["text"] for e in b.slack.ephemerals))
    assert not b.store.recent()
    _confirm(b, "3000.000100")
    _final(b, "3000.000100", "completed")
    (job,) = b.store.recent()
    assert (
        job.state == "COMPLETED"
        and job.reported
        and job.thread_id == "CLAB:3000.000100"
        and job.user_id == "UALICE"
    )
    # one status message, edited through the states, then the summary in its place
    status = next(m for m in b.messages("CLAB", "3000.000100") if m.ts == confirmation.ts)
    final = b.current(status)
    assert "LAMMPS finished" in final and "final step 2,000" in final and "Health:* looks fine" in final
    assert any("Submitting to testcluster" in json.dumps(e) for e in status.edits)
    wanted = {"log.lammps", "thermo.png", "mdbot.restart.2000"}
    names = lambda: {u["filename"] for u in b.slack.uploads_in("CLAB", "3000.000100")}  # noqa: E731 - a probe
    assert b.slack.wait_for(lambda: wanted <= names(), PATIENT_S), names()


def test_a_member_not_on_the_list_is_told_why(slack_cluster):
    b = slack_cluster(users=["UALICE"])
    _ask(b, "3100.000100", "submit", lj(), user="UEVE")
    _final(b, "3100.000100", "may submit jobs to testcluster")
    assert not b.store.recent()


def test_cancel_by_the_owner_and_refusal_for_another_member(slack_cluster):
    b = slack_cluster(admins=["UADMIN"])
    _ask(b, "3200.000100", "run it on the cluster", lj(10**8))
    _confirm(b, "3200.000100")
    message, cancel = b.with_action("CLAB", "3200.000100", "mdbot_cluster_cancel")
    b.click("UBOB", "CLAB", "3200.000100", message, cancel)
    assert b.slack.wait_for(
        lambda: any("Only the member who submitted" in e["text"] for e in b.slack.ephemerals)
    )
    assert b.store.recent()[0].open
    b.click("UALICE", "CLAB", "3200.000100", message, cancel)
    _final(b, "3200.000100", "cancelled")
    assert b.store.recent()[0].state == "CANCELLED"


def test_bot_restart_while_a_job_runs_is_followed_and_reported_once(slack_cluster, tmp_path):
    data = tmp_path / "bot-data"
    first = slack_cluster(data_dir=data)
    _ask(first, "3300.000100", "run this on the cluster", lj(20000))
    _confirm(first, "3300.000100")
    wait_for(lambda: first.store.recent() and first.store.recent()[0].cluster_id, "the job to be submitted")
    first.server.shutdown()
    first.bot.close(grace_s=60)  # the bot stops; the job goes on in Slurm
    assert first.store.recent()[0].open and not first.store.recent()[0].reported
    second = slack_cluster(data_dir=data, slack=first.slack)  # the same database, the same Slack
    _final(second, "3300.000100", "completed")
    second.bot.close(grace_s=60)
    third = slack_cluster(data_dir=data, slack=first.slack)  # a further restart reports nothing again
    third.bot.cluster.poller.tick()
    summaries = [m for m in first.slack.thread("CLAB", "3300.000100") if "completed" in third.current(m)]
    assert len(summaries) == 1
    assert (
        len([u for u in first.slack.uploads_in("CLAB", "3300.000100") if u["filename"] == "log.lammps"]) == 1
    )


def test_timeout_offers_continue_from_restart(slack_cluster):
    b = slack_cluster(restart_every=20000)
    script = lj(10**9).replace("thermo 100", "thermo 5000")
    _ask(b, "3400.000100", "run this on the cluster --time 00:01:00", script)
    _confirm(b, "3400.000100")
    message, cont = b.with_action("CLAB", "3400.000100", "mdbot_cluster_continue")
    first = b.store.recent()[0]
    assert first.state == "TIMEOUT" and "time limit" in b.current(message)
    b.click("UALICE", "CLAB", "3400.000100", message, cont)
    # the continuation gets its own confirmation (tested in the sandbox from the restart file)
    wait_for(lambda: "Continues job" in b.text("CLAB", "3400.000100"), "the continuation's confirmation")
    confirm, button = b.with_action("CLAB", "3400.000100", "mdbot_cluster_confirm")
    b.click("UALICE", "CLAB", "3400.000100", confirm, button)
    second = wait_for(
        lambda: next((j for j in b.store.recent() if j.parent_id == first.id and j.cluster_id), None),
        "the continuation job",
    )
    assert "read_restart mdbot.restart." in second.script and "upto" in second.script
    log = second.local_dir + "/log.lammps"
    wait_for(
        lambda: "read_restart" in _read(log) and "Step" in _read(log),
        "the continuation to start from the restart file",
    )
    b.bot.cluster.cluster.cancel(second.id, user="UALICE")


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return ""
