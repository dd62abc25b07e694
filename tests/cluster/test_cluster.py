"""The cluster against a real single-node Slurm: plan, test run, submit, follow, end state, faults."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.cluster.conftest import lj, wait_for
from tests.conftest import requires_bwrap

pytestmark = requires_bwrap  # the test run before a submission is a sandbox run


def _submit(cluster, script, files=(), **plan):
    prepared = cluster.test(cluster.plan(script, list(files), **plan))
    assert prepared.problem is None, prepared.problem
    return cluster.submit(prepared)


def _follow(cluster, job_id):
    from mdbot.cluster.poller import Poller

    poller = Poller(cluster, pictures=True)
    events = []
    wait_for(
        lambda: not cluster.store.get(job_id).open,
        f"job {job_id} to end",
        poll=lambda: events.extend(poller.tick()),
    )
    return cluster.store.get(job_id), events, poller


def test_submit_runs_to_completion_and_reports_like_a_sandbox_run(make_cluster):
    cluster = make_cluster()
    job = _submit(cluster, lj(1000), user="UALICE")
    assert job.state == "PENDING" and job.open and job.cluster_id.isdigit()
    assert job.resources == {
        "nodes": 1,
        "ntasks": 1,
        "time": "00:10:00",
        "partition": "",
        "account": None,
        "qos": None,
    }
    assert job.test_run["status"] == "ok" and job.test_run["final_step"] == 50  # the run, cut short
    assert any("restart 500 mdbot.restart.*" in n for n in job.notes)  # a script without restart output
    batch = (cluster.settings.shared_dir / job.id / "mdbot.sbatch").read_text()
    assert "#SBATCH --time=00:10:00" in batch and "nice -n 19" in batch
    done, events, poller = _follow(cluster, job.id)
    assert done.state == "COMPLETED" and not done.open and done.ended_at
    result = done.result
    assert result["status"] == "ok" and result["final_step"] == 1000 and result["health"]["ok"]
    assert result["performance"]["timesteps_per_s"] > 0
    assert {"log.lammps", "thermo.png", "mdbot.restart.1000"} <= {f["name"] for f in result["files"]}
    assert [h["state"] for h in done.history][0] == "SUBMITTING" and done.history[-1]["state"] == "COMPLETED"
    assert cluster.slurm.accounting([job.cluster_id]) is None  # Debian 12's Slurm here: no slurmdbd
    assert [e.kind for e in events].count("final") == 1 and events[-1].kind == "final"
    assert poller.cluster.slurm.calls["squeue"] == poller.ticks  # one squeue per poll, whatever the jobs


def test_a_job_that_fails_in_lammps_is_reported_failed_with_the_diagnosed_error(make_cluster):
    cluster = make_cluster()
    # passes the 50-step test run; the halt condition only meets at step 300 on the cluster
    script = lj(1000, "variable s equal step\nfix stop all halt 100 v_s >= 300 error hard\n")
    job = _submit(cluster, script, user="UALICE")
    done, _events, _ = _follow(cluster, job.id)
    assert done.state == "FAILED" and done.result["status"] == "error"
    assert "halt" in done.result["error"]["message"].lower() and done.error


def test_completed_by_slurm_but_a_lammps_error_in_the_log_is_a_failure(tmp_path, settings):
    from mdbot.cluster.report import EndState, final_result

    (tmp_path / "log.lammps").write_text(
        "LAMMPS (22 Jul 2025)\nunits lj\nERROR: Unrecognized pair style 'lj/cutt' (src/force.cpp:275)\n"
        "Last input line: pair_style lj/cutt 2.5\n"
    )
    result = final_result(
        tmp_path, "in.lj", "units lj\npair_style lj/cutt 2.5\n", EndState("COMPLETED", 0), settings
    )
    assert result.status == "error" and "lj/cutt" in result.error.message


def test_bad_requests_are_refused_with_reasons_before_anything_is_submitted(make_cluster, tmp_path):
    from mdbot.cluster.service import ClusterError

    cluster = make_cluster(users=["UALICE"], max_open_per_user=1)
    cases = [
        (dict(partition="nope"), "partition", "no partition 'nope' (its partitions: closed, debug, short)"),
        (dict(time="02:00:00"), "request", "above the lab's maximum of 01:00:00"),
        (
            dict(partition="short", time="00:30:00"),
            "partition",
            "longest the 'short' partition allows (00:05:00)",
        ),
        (dict(time="soon"), "request", "not a Slurm time"),
        (dict(nodes=9), "request", "--nodes must be between 1 and 4"),
    ]
    for plan, kind, words in cases:
        with pytest.raises(ClusterError) as err:
            cluster.plan(lj(), user="UALICE", **plan)
        assert err.value.kind == kind and words in str(err.value), (plan, str(err.value))
    with pytest.raises(ClusterError) as err:
        cluster.plan(lj(), user="UBOB")
    assert err.value.kind == "access" and "may submit" in str(err.value)
    with pytest.raises(ClusterError) as err:
        cluster.plan(lj().replace("mass 1 1.0", "mass 1 1.0\nshell rm -rf x"), user="UALICE")
    assert err.value.kind == "policy" and "shell" in str(err.value)
    # sbatch itself refuses (root may not use this partition); the journal says why, no directory is left
    refused = _submit(cluster, lj(), user="UALICE", partition="closed")
    assert refused.state == "REFUSED" and not refused.open and refused.cluster_id is None
    assert (
        "Slurm refused the job" in refused.error and not (cluster.settings.shared_dir / refused.id).exists()
    )
    # the shared directory has too little free space: refused before sbatch
    full = make_cluster(min_free_mb=10**9)
    job = _submit(full, lj(), user="UALICE")
    assert job.state == "REFUSED" and job.history[-1]["reason"] == "disk" and "MiB free" in job.error
    # the per-member limit of open jobs
    first = _submit(cluster, lj(100000), user="UALICE")
    with pytest.raises(ClusterError) as err:
        cluster.plan(lj(), user="UALICE")
    assert err.value.kind == "limit"
    cluster.cancel(first.id, user="UALICE")


def test_a_test_run_that_fails_stops_the_submission(make_cluster):
    cluster = make_cluster()
    prepared = cluster.test(cluster.plan(lj().replace("lj/cut 2.5", "lj/cutt 2.5"), user="UALICE"))
    assert prepared.problem and "lj/cutt" in prepared.problem
    assert prepared.test_run.status in ("error", "rejected")


def test_controller_down_while_polling_retries_then_says_so_and_loses_nothing(make_cluster, slurm):
    from mdbot.cluster.poller import Poller

    cluster = make_cluster()
    job = _submit(cluster, lj(3000), user="UALICE")
    poller = Poller(cluster, pictures=False)
    slurm.stop_controller()
    try:
        events = []
        wait_for(
            lambda: any(e.kind == "outage" for e in events),
            "an outage notice",
            poll=lambda: events.extend(poller.tick()),
        )
        assert poller.failures >= 2 and poller.delay_s > poller.interval_s  # backing off
        assert cluster.store.get(job.id).open  # not declared lost
        outage = next(e for e in events if e.kind == "outage")
        assert "not answering" in outage.text and "not lost" in outage.text
        assert [e.kind for e in events].count("outage") == 1  # said once, not every poll
    finally:
        slurm.start_controller()
    done, events, _ = _follow_with(poller, cluster, job.id)
    assert done.state == "COMPLETED" and done.result["final_step"] == 3000
    assert any(e.kind == "recovered" for e in events)
    assert any("Slurm not answering" in (h.get("note") or "") for h in done.history)


def _follow_with(poller, cluster, job_id):
    events = []
    wait_for(
        lambda: not cluster.store.get(job_id).open,
        f"job {job_id} to end",
        poll=lambda: events.extend(poller.tick()),
    )
    return cluster.store.get(job_id), events, poller


def test_cancel_by_owner_and_refusal_for_another_member(make_cluster):
    from mdbot.cluster.service import ClusterError

    cluster = make_cluster(admins=["UADMIN"])
    job = _submit(cluster, lj(10**7), user="UALICE")
    with pytest.raises(ClusterError) as err:
        cluster.cancel(job.id, user="UBOB")
    assert err.value.kind == "access"
    cluster.cancel(job.cluster_id, user="UALICE")  # by Slurm's id too
    done, _events, _ = _follow(cluster, job.id)
    assert done.state == "CANCELLED" and done.result["status"] == "killed"


def test_cli_submit_and_jobs_json(slurm, tmp_path, settings):
    script = tmp_path / "in.lj"
    script.write_text(lj(500))
    from tests.cluster.conftest import cluster_settings

    cs = cluster_settings(tmp_path)
    env = {
        **os.environ,
        "MDBOT_DATA_DIR": str(tmp_path / "data"),
        "MDBOT_PICTURES": "false",
        "MDBOT_CLUSTER_MODE": "local",
        "MDBOT_CLUSTER_NAME": cs.name,
        "MDBOT_CLUSTER_SHARED_DIR": str(cs.shared_dir),
        "MDBOT_CLUSTER_LAMMPS_COMMAND": cs.lammps_command,
        "MDBOT_CLUSTER_MIN_FREE_MB": "0",
        "MDBOT_CLUSTER_TEST_STEPS": "50",
    }
    cli = [sys.executable, "-m", "mdbot.cli"]
    done = subprocess.run(
        [*cli, "submit", str(script), "--time", "00:05:00", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert set(doc) == {"job", "test_run"} and doc["test_run"]["status"] == "ok"
    job = doc["job"]
    assert {"id", "cluster_id", "state", "resources", "workdir"} <= set(job) and job["state"] == "PENDING"
    assert job["resources"]["time"] == "00:05:00"

    def listed():
        out = subprocess.run([*cli, "jobs", "--json"], env=env, capture_output=True, text=True, timeout=3600)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    final = wait_for(
        lambda: (d := listed()) and d["jobs"][0]["state"] == "COMPLETED" and d, "the job to complete"
    )
    entry = final["jobs"][0]
    assert entry["cluster_id"] == job["cluster_id"] and entry["history"][0]["state"] == "SUBMITTING"
    assert entry["result"]["final_step"] == 500
    bad = subprocess.run(
        [*cli, "submit", str(script), "--partition", "nope", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert bad.returncode == 2 and "no partition 'nope'" in json.loads(bad.stdout)["message"]
    cancel = subprocess.run(
        [*cli, "jobs", "cancel", job["id"], "--json"], env=env, capture_output=True, text=True, timeout=3600
    )
    assert cancel.returncode == 2 and "not queued or running" in json.loads(cancel.stdout)["message"]


def test_a_job_squeue_has_forgotten_ends_by_its_exit_file_and_log(make_cluster):
    """After MinJobAge squeue no longer lists a finished job and this Slurm keeps no accounting: the end
    state comes from the exit file the batch script wrote, the result from the LAMMPS log."""
    from mdbot.cluster import template
    from mdbot.cluster.poller import Poller

    cluster = make_cluster()
    job = _submit(cluster, lj(400), user="UALICE")
    exit_file = cluster.settings.shared_dir / job.id / template.EXIT_FILE
    wait_for(
        lambda: exit_file.is_file() and exit_file.read_text().strip(), f"job {job.id} to write its exit file"
    )
    poller = Poller(cluster, pictures=False)  # as a bot that starts after squeue forgot the job
    events = poller._vanished([cluster.store.get(job.id)])
    done = cluster.store.get(job.id)
    assert done.state == "COMPLETED" and not done.open
    assert done.result["status"] == "ok" and done.result["final_step"] == 400
    assert [e.kind for e in events] == ["final"]
    assert exit_file.read_text().strip().splitlines()[-1].strip() == "0"
