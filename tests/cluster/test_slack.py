"""The cluster from Slack, end to end: signed events and button clicks → the real Bolt app → the sandbox test
run → a real Slurm → the poller → edits, the final summary and uploads in the local Slack Web API."""

from __future__ import annotations

import json

import pytest

from tests.bot.slack_api import MockSlack
from tests.cluster import PATIENT_S
from tests.cluster.conftest import lj, wait_for
from tests.cluster.harness import ask, build, confirm, final
from tests.conftest import requires_bwrap

pytestmark = requires_bwrap


@pytest.fixture
def slack_cluster(make_brain, tmp_path, slurm):
    """slack_cluster(data_dir=, slack=, pictures=False, **cluster settings) -> Bot: a SlackBot with a cluster."""
    made, slacks = [], []

    def make(data_dir=None, slack=None, pictures=False, **overrides):
        if slack is None:
            slack = MockSlack().__enter__()
            slacks.append(slack)
        brain = make_brain(retrieval=False, data_dir=data_dir or tmp_path / "brain", pictures=pictures)
        b = build(brain, tmp_path, slack, **overrides)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()
    for slack in slacks:
        slack.__exit__(None, None, None)


def test_submit_from_a_thread_confirm_follow_and_report_with_files(slack_cluster):
    b = slack_cluster(pictures=True)
    ask(b, "3000.000100", "run this on the cluster --time 00:05:00", lj(2000))
    confirmation, _ = b.with_action("CLAB", "3000.000100", "mdbot_cluster_confirm")
    shown = b.current(confirmation)
    assert (
        "Ready to submit to testcluster" in shown
        and "time 00:05:00" in shown
        and "Test run in the sandbox:* ok, 50 steps" in shown
    )
    assert not b.store.recent()  # nothing is submitted before the member confirms
    # another member cannot confirm it
    confirm(b, "3000.000100", user="UBOB")
    assert b.slack.wait_for(lambda: any("Only <@UALICE>" in e["text"] for e in b.slack.ephemerals))
    assert not b.store.recent()
    confirm(b, "3000.000100")
    final(b, "3000.000100", "completed")
    (job,) = b.store.recent()
    assert (
        job.state == "COMPLETED"
        and job.reported
        and job.thread_id == "CLAB:3000.000100"
        and job.user_id == "UALICE"
    )
    # one status message, edited through the states, then the summary in its place
    status = next(m for m in b.messages("CLAB", "3000.000100") if m.ts == confirmation.ts)
    summary = b.current(status)
    assert "LAMMPS finished" in summary and "final step 2,000" in summary and "Health:* looks fine" in summary
    assert any("Submitting to testcluster" in json.dumps(e) for e in status.edits)
    wanted = {"log.lammps", "thermo.png", "mdbot.restart.2000"}
    names = lambda: {u["filename"] for u in b.slack.uploads_in("CLAB", "3000.000100")}  # noqa: E731 - a probe
    assert b.slack.wait_for(lambda: wanted <= names(), PATIENT_S), names()


def test_a_member_not_on_the_list_is_told_why(slack_cluster):
    b = slack_cluster(users=["UALICE"])
    ask(b, "3100.000100", "submit", lj(), user="UEVE")
    final(b, "3100.000100", "may submit jobs to testcluster")
    assert not b.store.recent()


def test_cancel_by_the_owner_and_refusal_for_another_member(slack_cluster):
    b = slack_cluster(admins=["UADMIN"])
    ask(b, "3200.000100", "run it on the cluster", lj(10**8))
    confirm(b, "3200.000100")
    message, cancel = b.with_action("CLAB", "3200.000100", "mdbot_cluster_cancel")
    b.click("UBOB", "CLAB", "3200.000100", message, cancel)
    assert b.slack.wait_for(
        lambda: any("Only the member who submitted" in e["text"] for e in b.slack.ephemerals)
    )
    assert b.store.recent()[0].open
    b.click("UALICE", "CLAB", "3200.000100", message, cancel)
    final(b, "3200.000100", "cancelled")
    assert b.store.recent()[0].state == "CANCELLED"


def test_bot_restart_while_a_job_runs_is_followed_and_reported_once(slack_cluster, tmp_path):
    data = tmp_path / "bot-data"
    first = slack_cluster(data_dir=data)
    ask(first, "3300.000100", "run this on the cluster", lj(20000))
    confirm(first, "3300.000100")
    wait_for(lambda: first.store.recent() and first.store.recent()[0].cluster_id, "the job to be submitted")
    first.server.shutdown()
    first.bot.close(grace_s=60)  # the bot stops; the job goes on in Slurm
    assert first.store.recent()[0].open and not first.store.recent()[0].reported
    second = slack_cluster(data_dir=data, slack=first.slack)  # the same database, the same Slack
    final(second, "3300.000100", "completed")
    second.bot.close(grace_s=60)
    third = slack_cluster(data_dir=data, slack=first.slack)  # a further restart reports nothing again
    third.bot.cluster.poller.tick()
    summaries = [m for m in first.slack.thread("CLAB", "3300.000100") if "completed" in third.current(m)]
    assert len(summaries) == 1
    assert (
        len([u for u in first.slack.uploads_in("CLAB", "3300.000100") if u["filename"] == "log.lammps"]) == 1
    )


def test_a_user_group_decides_who_may_submit(slack_cluster, tmp_path):
    """MDBOT_CLUSTER_USER_GROUP: Slack's usergroups.users.list says who is in; a member outside it is told
    why, and where Slack will not say (no usergroups:read scope), nobody outside the admins is let in."""
    slack = MockSlack().__enter__()
    try:
        slack.usergroups["S0MDLAB"] = ["UALICE"]
        b = slack_cluster(slack=slack, user_group="S0MDLAB")
        ask(b, "3300.000100", "submit", lj(), user="UEVE")
        final(b, "3300.000100", "Only the members of the lab's cluster group may submit jobs to testcluster")
        ask(b, "3300.000200", "submit", lj(), user="UALICE")
        final(b, "3300.000200", "Ready to submit to testcluster")
        asked = [c.params.get("usergroup") for c in slack.calls_of("usergroups.users.list")]
        assert asked == ["S0MDLAB"]  # one lookup: the members are cached between requests
        slack.fail("usergroups.users.list", "missing_scope")
        fresh = slack_cluster(slack=slack, data_dir=tmp_path / "brain2", user_group="S0MDLAB", admins=["UADMIN"])
        ask(fresh, "3300.000300", "submit", lj(), user="UALICE")
        final(fresh, "3300.000300", "may submit jobs to testcluster")
        ask(fresh, "3300.000400", "submit", lj(), user="UADMIN")
        final(fresh, "3300.000400", "Ready to submit to testcluster")
        assert not b.store.recent() and not fresh.store.recent()  # nothing submitted without a confirmation
    finally:
        slack.__exit__(None, None, None)
