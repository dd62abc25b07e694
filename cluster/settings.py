"""The lab's cluster, configured once (environment prefix ``MDBOT_CLUSTER_``, read from ``.env``).

Where the bot submits (this host, or a login node over SSH with connection reuse), the job template
(partition, account/QOS, default and largest time, nodes and tasks, environment lines, the LAMMPS command),
the shared directory of job directories, who may submit and how much, and how often the queue is polled.
``mode = off`` (the default): a lab without a cluster sees none of this.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_TIME = re.compile(r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$")


def parse_time(value: str) -> int:
    """Seconds in a Slurm time (``HH:MM:SS``, ``MM:SS``, ``D-HH:MM:SS``, or plain minutes). ValueError else."""
    text = value.strip()
    if text.isdigit():
        return int(text) * 60  # Slurm reads a bare number as minutes
    m = _TIME.match(text)
    if not m:
        raise ValueError(f"'{value}' is not a Slurm time (HH:MM:SS or D-HH:MM:SS)")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in m.groups())
    if m.group(2) is None:  # MM:SS
        hours, minutes, seconds = 0, int(m.group(3)), int(m.group(4))
    if minutes > 59 or seconds > 59:
        raise ValueError(f"'{value}': minutes and seconds must be below 60")
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def format_time(seconds: int) -> str:
    """``HH:MM:SS`` (``D-HH:MM:SS`` from a day on), as Slurm prints it."""
    days, rest = divmod(int(seconds), 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return (f"{days}-" if days else "") + f"{h:02d}:{m:02d}:{s:02d}"


def _split(value: object, sep: str = ",") -> object:
    if isinstance(value, str):
        return [v.strip() for v in value.split(sep) if v.strip()]
    return value


class ClusterSettings(BaseSettings):
    """One cluster per deployment."""

    model_config = SettingsConfigDict(env_prefix="MDBOT_CLUSTER_", env_file=".env", extra="ignore")

    mode: Literal["off", "local", "ssh"] = Field(
        "off", description="off: no cluster; local: Slurm's commands on this host; ssh: on a login node."
    )
    name: str = Field("cluster", description="The cluster's name in messages and the journal.")
    # --- where the commands run
    ssh_host: str = Field("", description="ssh mode: [user@]login-node.")
    ssh_port: int = Field(22, gt=0, le=65535, description="ssh mode: port of the login node.")
    ssh_key: Path | None = Field(None, description="ssh mode: private key file (no passphrase, or an agent).")
    ssh_options: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="ssh mode: extra -o options, comma-separated (KEY=VALUE)."
    )
    ssh_control_persist_s: int = Field(
        600, ge=0, description="ssh mode: how long the shared connection stays open (multi-factor sites)."
    )
    command_timeout_s: float = Field(120.0, gt=0, description="Longest wait for one Slurm or ssh command.")
    slurm_bin: str = Field("", description="Directory of sbatch/squeue/… on the submit host; empty: PATH.")
    # --- the job template
    shared_dir: Path = Field(
        Path("/shared/mdbot"), description="Job directories live here, on the cluster's shared file system."
    )
    partition: str = Field("", description="Default partition; empty: the cluster's default.")
    account: str = Field("", description="Default account (sbatch --account); empty: none.")
    qos: str = Field("", description="QOS (sbatch --qos); empty: none.")
    accounts: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, description="Slack user → cluster account, comma-separated USER=ACCOUNT."
    )
    default_time: str = Field("01:00:00", description="Time limit when the member asks for none.")
    max_time: str = Field("24:00:00", description="Largest time limit a member may ask for.")
    default_nodes: int = Field(1, ge=1, description="Nodes when the member asks for none.")
    max_nodes: int = Field(4, ge=1, description="Most nodes one job may ask for.")
    default_ntasks: int = Field(1, ge=1, description="MPI tasks when the member asks for none.")
    max_ntasks: int = Field(128, ge=1, description="Most MPI tasks one job may ask for.")
    env_lines: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Batch script lines before LAMMPS (module load …), ';'-separated."
    )
    lammps_command: str = Field(
        "srun lmp", description="How the job starts LAMMPS (srun lmp, mpirun -np $SLURM_NTASKS lmp, …)."
    )
    restart_every: int = Field(
        1000, ge=1, description="Steps between restart files added to scripts that write none."
    )
    min_free_mb: int = Field(1024, ge=0, description="Refuse to submit when the shared directory has less.")
    # --- the test run before submitting
    test_steps: int = Field(200, ge=1, description="Steps of the sandboxed test run (each run cut to this).")
    test_timeout_s: float = Field(300.0, gt=0, description="Wall-clock limit of the test run.")
    # --- who and how much
    users: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Slack user IDs who may submit, comma-separated."
    )
    user_group: str = Field("", description="Slack user group ID whose members may submit.")
    admins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Slack user IDs who may cancel anyone's job, comma-separated."
    )
    max_open_per_user: int = Field(4, ge=1, description="Open (queued or running) jobs per member.")
    max_open_lab: int = Field(40, ge=1, description="Open jobs of the whole lab.")
    # --- following the jobs
    poll_interval_s: float = Field(
        30.0, gt=0, description="Seconds between two squeue calls (one call for all open jobs)."
    )
    backoff_max_s: float = Field(600.0, gt=0, description="Longest wait between retries when Slurm fails.")
    outage_notice_s: float = Field(
        300.0, ge=0, description="After this long without an answer from Slurm, say so in the job's thread."
    )

    @field_validator("ssh_options", "users", "admins", mode="before")
    @classmethod
    def _lists(cls, value: object) -> object:
        return _split(value)

    @field_validator("env_lines", mode="before")
    @classmethod
    def _lines(cls, value: object) -> object:
        return _split(value, ";")

    @field_validator("accounts", mode="before")
    @classmethod
    def _accounts(cls, value: object) -> object:
        if isinstance(value, str):
            pairs = [p.split("=", 1) for p in _split(value)]
            return {k.strip(): v.strip() for k, v in (p for p in pairs if len(p) == 2)}
        return value

    @field_validator("default_time", "max_time")
    @classmethod
    def _time(cls, value: str) -> str:
        parse_time(value)
        return value

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    @property
    def max_time_s(self) -> int:
        return parse_time(self.max_time)

    @property
    def default_time_s(self) -> int:
        return parse_time(self.default_time)

    def account_for(self, user: str | None) -> str:
        return self.accounts.get(user or "", self.account)

    def problems(self) -> list[str]:
        """What is missing to use the cluster, in words an operator can act on."""
        out = []
        if self.mode == "ssh" and not self.ssh_host:
            out.append("MDBOT_CLUSTER_SSH_HOST is not set (mode ssh)")
        if self.default_time_s > self.max_time_s:
            out.append("MDBOT_CLUSTER_DEFAULT_TIME is above MDBOT_CLUSTER_MAX_TIME")
        if self.ssh_key is not None and not os.path.exists(self.ssh_key):
            out.append(f"MDBOT_CLUSTER_SSH_KEY {self.ssh_key} does not exist")
        return out
