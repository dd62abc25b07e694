"""Fixtures: one real Slurm per session (started on 127.0.0.1, stopped at the end), a migrated journal, and
clusters configured against them with short poll intervals."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.cluster import PATIENT_S
from tests.cluster.slurm_local import LocalSlurm, available

LMP = str(Path(sys.executable).parent / "lmp")  # the wheel's console script

# 500 LJ atoms; finishes in a second or two.
LJ = """units lj
atom_style atomic
lattice fcc 0.8442
region box block 0 5 0 5 0 5
create_box 1 box
create_atoms 1 box
mass 1 1.0
velocity all create 1.5 87287 loop geom
pair_style lj/cut 2.5
pair_coeff 1 1 1.0 1.0 2.5
neighbor 0.3 bin
fix 1 all nvt temp 1.5 1.5 0.5
thermo 100
run {steps}
"""


def lj(steps: int = 1000, extra: str = "") -> str:
    return LJ.format(steps=steps).replace("thermo 100\n", "thermo 100\n" + extra)


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    why = available()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    old = os.environ.get("SLURM_CONF")
    cluster.start()
    os.environ["SLURM_CONF"] = str(cluster.conf)  # the client commands mdbot runs find this Slurm
    yield cluster
    cluster.stop()
    if old is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = old


@pytest.fixture
def engine(tmp_path):
    from mdbot.graph.journal import Journal

    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    yield journal.engine
    journal.close()


def cluster_settings(tmp_path: Path, **overrides):
    from mdbot.cluster.settings import ClusterSettings

    values = dict(
        mode="local",
        name="testcluster",
        shared_dir=tmp_path / "shared",
        # the jobs yield the CPU to other processes of their own Slurm session only: against the suite, another
        # session, the kernel's autogroups weigh them equally (see nice_after_restart.sh); they take seconds
        lammps_command=f"nice -n 19 {LMP}",
        poll_interval_s=0.2,
        backoff_max_s=1.0,
        outage_notice_s=0.5,
        min_free_mb=0,
        test_steps=50,
        restart_every=500,
        default_time="00:10:00",
        max_time="01:00:00",
    )
    return ClusterSettings(_env_file=None, **{**values, **overrides})


@pytest.fixture
def make_cluster(tmp_path, engine, slurm, settings):
    """make_cluster(**settings overrides) -> Cluster on the session's Slurm and this test's journal."""
    from mdbot.cluster.service import Cluster
    from mdbot.cluster.store import JobStore

    made = []

    def make(**overrides):
        c = Cluster(cluster_settings(tmp_path, **overrides), JobStore(engine), settings)
        made.append(c)
        return c

    yield make
    for c in made:
        for job in c.store.open_jobs():
            if job.cluster_id:
                c.slurm.transport.run(["scancel", job.cluster_id])
        c.close()
        control = getattr(c.transport, "control_path", None)
        if control is not None and not control.is_relative_to(tmp_path):
            # a test's long tmp_path puts the SSH control directory in /tmp, outside tmp_path
            shutil.rmtree(control.parent, ignore_errors=True)


def wait_for(predicate, what: str, timeout: float = PATIENT_S, poll=None):
    """Poll ``predicate`` (calling ``poll`` first each round) until it is true; fail after ``timeout``."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if poll is not None:
            poll()
        value = predicate()
        if value:
            return value
        time.sleep(0.1)  # re-checking a condition, not waiting for an outcome
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


TIMEOUT_THREAD = "3400.000100"


@pytest.fixture(scope="module")
def timeout_job(slurm, tmp_path_factory):
    """A job that runs into its one-minute Slurm limit (the least Slurm grants; it enforces it within the next
    30 s), submitted from Slack. Only ``tests/cluster/test_timeout.py`` uses it, in a module of its own, so
    that under ``make test`` (pytest-xdist, one module per worker) its minute passes while the other workers
    run the other modules. None where the sandbox cannot run."""
    from tests.conftest import bwrap_works

    if not bwrap_works():
        yield None
        return
    from mdbot.graph.service import Brain
    from mdbot.graph.settings import GraphSettings
    from mdbot.sandbox.settings import SandboxSettings
    from tests.bot.slack_api import MockSlack
    from tests.cluster.harness import ask, build, confirm

    root = tmp_path_factory.mktemp("timeout-job")
    data = root / "brain"
    brain = Brain(GraphSettings(_env_file=None, data_dir=data),
                  sandbox=SandboxSettings(_env_file=None, data_dir=data, pictures=False),
                  models={"instruct": None, "code": None, "judge": None}, searcher=False)  # fmt: skip
    slack = MockSlack().__enter__()
    # Unlike the other tests' jobs these two start at normal priority: beside two busy processes on one core a
    # `nice -n 19` job gets ~1 % of it, little for reaching a restart file within the minute, and the
    # continuation's log stayed empty for 600 s (`taskset -c 0 make test`, two workers). Once the first job
    # has written its restart file it only has to keep running into the limit, and does so at nice 19
    # (nice_after_restart.sh). LAMMPS also flushes the log at each thermo line here, so the continuation shows
    # that it read the restart file as soon as its run is set up, not once 4 KB of log have filled its buffer.
    wrapper = Path(__file__).with_name("nice_after_restart.sh")
    b = build(brain, root, slack, restart_every=20000, lammps_command=f"bash {wrapper} {LMP}")
    script = lj(10**9).replace("thermo 100", "thermo 5000\nthermo_modify flush yes")
    ask(b, TIMEOUT_THREAD, "run this on the cluster --time 00:01:00", script)
    confirm(b, TIMEOUT_THREAD)
    yield b
    b.close()
    brain.close()
    slack.__exit__(None, None, None)
