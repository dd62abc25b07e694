"""TIMEOUT and the continuation from the restart file, through Slack. The job is submitted by the
``timeout_job`` fixture (tests/cluster/conftest.py); this module waits for Slurm's minute on its own, which
``make test`` spends in parallel with the other modules."""

from __future__ import annotations

import pytest

from tests.cluster.conftest import TIMEOUT_THREAD, wait_for


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return ""


def test_timeout_offers_continue_from_restart(timeout_job):
    if timeout_job is None:
        pytest.skip("bubblewrap is not usable here: no sandboxed test run, no submission")
    b, ts = timeout_job, TIMEOUT_THREAD
    message, cont = b.with_action("CLAB", ts, "mdbot_cluster_continue")
    first = next(j for j in b.store.recent() if j.parent_id is None)
    assert first.state == "TIMEOUT" and "time limit" in b.current(message)
    assert "Continue from restart" in b.current(message)
    # the log and the last restart file go up under the summary (after it: wait for them)
    uploaded = lambda: " ".join(u["filename"] for u in b.slack.uploads_in("CLAB", ts))  # noqa: E731 - a probe
    assert b.slack.wait_for(lambda: "mdbot.restart." in uploaded() and "log.lammps" in uploaded()), uploaded()
    b.click("UBOB", "CLAB", ts, message, cont)  # not the owner
    assert b.slack.wait_for(
        lambda: any("may continue it" in m.all_text() for m in b.slack.thread("CLAB", ts))
    )
    b.click("UALICE", "CLAB", ts, message, cont)
    # the continuation gets its own confirmation, after its own test run in the sandbox from the restart file
    wait_for(lambda: "Continues job" in b.text("CLAB", ts), "the continuation's confirmation")
    confirm, button = b.with_action("CLAB", ts, "mdbot_cluster_confirm")
    b.click("UALICE", "CLAB", ts, confirm, button)
    second = wait_for(
        lambda: next((j for j in b.store.recent() if j.parent_id == first.id and j.cluster_id), None),
        "the continuation job",
    )
    assert "read_restart mdbot.restart." in second.script and "upto" in second.script
    assert "mdbot.restart." in " ".join(second.files)
    log = second.local_dir + "/log.lammps"
    wait_for(lambda: "read_restart" in _read(log) and "Step" in _read(log), "the continuation to start")
    b.bot.cluster.cluster.cancel(second.id, user="UALICE")
