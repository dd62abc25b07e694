"""SSH mode against a local sshd on 127.0.0.1: the same Slurm reached through one shared SSH connection, the
job directory sent and fetched as tar streams, and a clear refusal when SSH fails."""

from __future__ import annotations

import pytest

from tests.cluster.conftest import lj, wait_for
from tests.cluster.slurm_local import LocalSSHD
from tests.conftest import requires_bwrap

pytestmark = requires_bwrap


@pytest.fixture
def sshd(slurm, tmp_path):
    why = LocalSSHD.available()
    if why:
        pytest.skip(why)
    with LocalSSHD(tmp_path / "sshd", slurm.conf) as server:
        yield server


def _ssh_settings(sshd, tmp_path, **overrides):
    values = dict(
        mode="ssh",
        ssh_host="root@127.0.0.1",
        ssh_port=sshd.port,
        ssh_key=sshd.key,
        ssh_options=[f"UserKnownHostsFile={tmp_path / 'known_hosts'}"],
        shared_dir=tmp_path / "login-node-shared",  # as the login node sees it; mdbot keeps a copy
    )
    return {**values, **overrides}


def test_ssh_mode_submits_follows_and_fetches_the_results(make_cluster, sshd, tmp_path):
    from mdbot.cluster.poller import Poller
    from mdbot.cluster.transport import SSHTransport

    cluster = make_cluster(**_ssh_settings(sshd, tmp_path))
    assert isinstance(cluster.transport, SSHTransport)
    prepared = cluster.test(cluster.plan(lj(500), user="UALICE"))
    job = cluster.submit(prepared)
    assert job.state == "PENDING" and job.local_dir != job.workdir
    poller = Poller(cluster, pictures=False)
    wait_for(lambda: not cluster.store.get(job.id).open, "the job to end", poll=poller.tick)
    done = cluster.store.get(job.id)
    assert done.state == "COMPLETED" and done.result["final_step"] == 500
    assert done.local_dir.endswith(f"cluster/{job.id}")  # the fetched copy, not the login node's directory
    assert "Total wall time" in open(f"{done.local_dir}/log.lammps").read()
    sockets = list(cluster.transport.control_path.parent.iterdir())
    assert sockets, "no shared SSH connection (ControlMaster) was kept"


def test_ssh_failure_is_a_clear_refusal(make_cluster, sshd, tmp_path):
    from mdbot.cluster.service import ClusterError

    cluster = make_cluster(**_ssh_settings(sshd, tmp_path, ssh_port=1, command_timeout_s=60))
    with pytest.raises(ClusterError) as err:
        cluster.plan(lj(), user="UALICE")
    assert err.value.kind == "ssh" and "ssh to root@127.0.0.1 failed" in str(err.value)
