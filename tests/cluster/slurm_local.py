"""A real single-node Slurm on 127.0.0.1 for the tests and the benchmark: munged, slurmctld and slurmd from
Debian's packages (``scripts/ensure-slurm.sh`` installs them), with a minimal slurm.conf in a private
directory and ports of their own, so nothing of the host's configuration is used or changed.

Debian 12 ships Slurm 22.05 without slurmdbd here: ``sacct`` says accounting is disabled, and a finished
job leaves ``squeue`` after ``MinJobAge`` seconds.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd")
NODE = "mdnode"
START_S = 600.0  # a hang guard: the daemons are up in a second or two


def available() -> str | None:
    """None when a local Slurm can be started here, else why not."""
    missing = [d for d in DAEMONS if not os.access(d, os.X_OK)]
    if missing:
        return f"Slurm is not installed ({', '.join(missing)}); make setup installs it as root"
    if os.geteuid() != 0:
        return "starting slurmd needs root"
    if not shutil.which("sbatch"):
        return "slurm-client (sbatch) is not installed"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, what: str, timeout: float = START_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)  # polling a daemon's readiness, not waiting for a test outcome
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")


class LocalSlurm:
    """``with LocalSlurm(root) as slurm:`` — slurm.env holds SLURM_CONF for the client commands."""

    def __init__(self, root: Path, *, cpus: int = 2, min_job_age: int = 30, partitions: str | None = None):
        self.root = Path(root)
        self.cpus = cpus
        self.min_job_age = min_job_age
        self.partitions = partitions or (
            f"PartitionName=debug Nodes={NODE} Default=YES MaxTime=60 State=UP\n"
            f"PartitionName=short Nodes={NODE} MaxTime=5 State=UP\n"
            # a partition root may not use: sbatch refuses the job (what a refusal looks like)
            f"PartitionName=closed Nodes={NODE} MaxTime=60 State=UP DisableRootJobs=YES\n"
        )
        self.conf = self.root / "slurm.conf"
        self.munge_socket = self.root / "munge" / "munge.sock"
        self.ctld_port, self.slurmd_port = _free_port(), _free_port()

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            argv, env={**os.environ, **self.env}, capture_output=True, text=True, check=check
        )

    def __enter__(self) -> LocalSlurm:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()  # whatever did start
            raise

    def _start(self) -> None:
        r = self.root
        for d in ("munge", "state", "spool", "log"):
            (r / d).mkdir(parents=True, exist_ok=True)
        (r / "munge").chmod(0o711)
        key = r / "munge" / "munge.key"
        if not key.exists():
            subprocess.run(["/usr/sbin/mungekey", "-c", "-k", str(key)], check=True, capture_output=True)
        self.conf.write_text(self._conf())
        subprocess.run(
            ["/usr/sbin/munged", "-f", f"--socket={self.munge_socket}", f"--key-file={key}",
             f"--log-file={r / 'log' / 'munged.log'}", f"--pid-file={r / 'munge' / 'munged.pid'}",
             f"--seed-file={r / 'munge' / 'seed'}"],
            check=True, capture_output=True,
        )  # fmt: skip
        self.start_controller(clean=True)
        subprocess.run(
            ["/usr/sbin/slurmd", "-f", str(self.conf), "-N", NODE], check=True, env={**os.environ, **self.env}
        )
        _wait(
            lambda: (
                self._run("sinfo", "-h", "-n", NODE, "-o", "%t", check=False).stdout.strip()
                in ("idle", "mix", "alloc")
            ),
            "slurmd",
        )

    def _conf(self) -> str:
        r = self.root
        return f"""ClusterName=mdtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={self.ctld_port}
SlurmdPort={self.slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={self.munge_socket}
CredType=cred/munge
StateSaveLocation={r / "state"}
SlurmdSpoolDir={r / "spool"}
SlurmctldPidFile={r / "slurmctld.pid"}
SlurmdPidFile={r / "slurmd.pid"}
SlurmctldLogFile={r / "log" / "slurmctld.log"}
SlurmdLogFile={r / "log" / "slurmd.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
SlurmdParameters=config_overrides
MinJobAge={self.min_job_age}
KillWait=5
OverTimeLimit=0
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=300
MessageTimeout=5
NodeName={NODE} NodeAddr=127.0.0.1 NodeHostname=localhost CPUs={self.cpus} State=UNKNOWN
{self.partitions}"""

    def start_controller(self, clean: bool = False) -> None:
        argv = ["/usr/sbin/slurmctld", "-f", str(self.conf)]
        if clean:
            argv.append("-c")  # a fresh state: no jobs of an earlier session
        subprocess.run(argv, check=True, env={**os.environ, **self.env})
        _wait(lambda: self._run("scontrol", "ping", check=False).returncode == 0, "slurmctld")

    def stop_controller(self) -> None:
        self._kill(self.root / "slurmctld.pid")

    def _kill(self, pidfile: Path) -> None:
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)  # waiting for a daemon we stopped to exit

    def stop(self) -> None:
        self._run("scancel", "--user=root", check=False)
        self._kill(self.root / "slurmd.pid")
        self.stop_controller()
        self._kill(self.root / "munge" / "munged.pid")


class LocalSSHD:
    """An sshd on 127.0.0.1 (a free port, its own host key and authorized key), as a login node would be;
    its sessions see the test Slurm through ``SetEnv SLURM_CONF``."""

    def __init__(self, root: Path, slurm_conf: Path):
        self.root = Path(root)
        self.slurm_conf = slurm_conf
        self.port = _free_port()
        self.key = self.root / "id_ed25519"
        self.process: subprocess.Popen | None = None

    @staticmethod
    def available() -> str | None:
        if not os.access("/usr/sbin/sshd", os.X_OK) or not shutil.which("ssh"):
            return "openssh-server is not installed"
        return None

    def __enter__(self) -> LocalSSHD:
        r = self.root
        r.mkdir(parents=True, exist_ok=True)
        host_key = r / "host_ed25519"
        for k in (host_key, self.key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(k)], check=True)
        (r / "authorized_keys").write_text(Path(f"{self.key}.pub").read_text())
        (r / "authorized_keys").chmod(0o600)
        conf = r / "sshd_config"
        conf.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {r / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {r / 'authorized_keys'}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            f"PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nSetEnv SLURM_CONF={self.slurm_conf}\n"
            "MaxStartups 100\nMaxSessions 100\n"
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
        self.process = subprocess.Popen(
            ["/usr/sbin/sshd", "-D", "-e", "-f", str(conf)], stderr=open(r / "sshd.log", "wb")
        )
        _wait(lambda: _port_open(self.port), "sshd")
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(START_S)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
