"""The Slurm client: Slurm's own commands (sbatch, squeue, sacct, scancel, scontrol) and their machine output.

Only parsable forms are read — ``sbatch --parsable``, ``squeue --noheader -o`` with a field separator,
``sacct --parsable2``, ``scontrol -o`` — never the human tables. Failures are typed: :class:`ControllerDown`
(slurmctld does not answer: retry later, the job is not lost), :class:`SlurmRefused` (the command answered
no, with Slurm's words), and :class:`~.transport.TransportError` (the submit host is unreachable). Every
call is counted by command, for the benchmark and the logs.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
from dataclasses import dataclass

from .settings import parse_time
from .transport import Completed, Transport

log = logging.getLogger(__name__)
SEP = "\x1f"  # the unit separator: never in a job name, reason or time
# What a Slurm command prints when slurmctld cannot be reached (22.05 and later).
_DOWN = re.compile(
    r"Unable to contact slurm controller|Socket timed out|Connection refused|Zero Bytes were transmitted|"
    r"Communication connection failure|Unable to establish connection|Transport endpoint is not connected",
    re.I,
)
TERMINAL = {
    "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY",
    "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT",
}  # fmt: skip


class SlurmError(RuntimeError):
    """A Slurm command failed."""


class ControllerDown(SlurmError):
    """slurmctld did not answer: nothing is decided, try again later."""


class SlurmRefused(SlurmError):
    """Slurm answered and said no (an invalid partition, a limit, a bad request)."""


@dataclass(frozen=True)
class Partition:
    name: str
    max_time_s: int | None  # None: UNLIMITED
    default: bool
    state: str
    max_nodes: int | None
    total_cpus: int | None


@dataclass(frozen=True)
class QueueEntry:
    """One job as squeue shows it."""

    job_id: str
    state: str  # PENDING, RUNNING, COMPLETING, COMPLETED, TIMEOUT, …
    reason: str  # Priority, Resources, QOSMaxJobsPerUserLimit, None
    elapsed_s: int | None
    limit_s: int | None
    nodes: str


@dataclass(frozen=True)
class Accounting:
    """A finished job as sacct records it."""

    job_id: str
    state: str
    exit_code: str  # "0:0" (status:signal)
    elapsed_s: int | None


def _seconds(text: str) -> int | None:
    text = text.strip()
    if not text or text in ("UNLIMITED", "INVALID", "NOT_SET", "N/A", "Partition_Limit"):
        return None
    try:
        return parse_time(text) if ":" in text else int(text) * 60
    except ValueError:
        return None


class Slurm:
    """Slurm's commands on the submit host (through ``transport``)."""

    def __init__(self, transport: Transport, bin_dir: str = ""):
        self.transport = transport
        self.bin_dir = bin_dir.rstrip("/")
        self.calls: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def _cmd(self, name: str) -> str:
        return f"{self.bin_dir}/{name}" if self.bin_dir else name

    def _run(self, name: str, args: list[str], stdin: bytes | None = None) -> Completed:
        with self._lock:
            self.calls[name] += 1
        done = self.transport.run([self._cmd(name), *args], stdin=stdin)
        if done.returncode != 0 and _DOWN.search(done.stderr):
            raise ControllerDown(_message(done.stderr) or f"{name}: the Slurm controller does not answer")
        return done

    # ------------------------------------------------------------------------------------------ queries
    def ping(self) -> bool:
        done = self._run("scontrol", ["ping"])
        return done.returncode == 0 and "UP" in done.stdout

    def partitions(self) -> dict[str, Partition]:
        done = self._run("scontrol", ["show", "partition", "--oneliner"])
        if done.returncode != 0:
            raise SlurmError(_message(done.stderr) or "scontrol show partition failed")
        out = {}
        for line in done.stdout.splitlines():
            fields = _key_values(line)
            name = fields.get("PartitionName")
            if not name:
                continue
            out[name] = Partition(
                name=name,
                max_time_s=_seconds(fields.get("MaxTime", "")),
                default=fields.get("Default") == "YES",
                state=fields.get("State", "UP"),
                max_nodes=int(fields["MaxNodes"]) if fields.get("MaxNodes", "").isdigit() else None,
                total_cpus=int(fields["TotalCPUs"]) if fields.get("TotalCPUs", "").isdigit() else None,
            )
        return out

    def queue(self, job_ids: list[str]) -> dict[str, QueueEntry]:
        """Every listed job that squeue still knows, in one call (finished ones until ``MinJobAge``)."""
        if not job_ids:
            return {}
        fmt = SEP.join(["%i", "%T", "%r", "%M", "%l", "%N"])
        done = self._run("squeue", ["--noheader", "--states=all", f"--jobs={','.join(job_ids)}", "-o", fmt])
        if done.returncode != 0:
            if "Invalid job id" in done.stderr:
                return {}  # none of them is known any more
            raise SlurmError(_message(done.stderr) or "squeue failed")
        out = {}
        for line in done.stdout.splitlines():
            parts = line.split(SEP)
            if len(parts) != 6:
                continue
            jid, state, reason, elapsed, limit, nodes = (p.strip() for p in parts)
            out[jid] = QueueEntry(jid, state.split()[0], reason, _seconds(elapsed), _seconds(limit), nodes)
        return out

    def accounting(self, job_ids: list[str]) -> dict[str, Accounting] | None:
        """End states from sacct, or None when the cluster keeps no accounting (no slurmdbd)."""
        if not job_ids:
            return {}
        done = self._run(
            "sacct",
            [
                "--noheader",
                "--parsable2",
                "-X",
                f"--jobs={','.join(job_ids)}",
                "-o",
                "JobID,State,ExitCode,Elapsed",
            ],
        )
        text = (done.stderr + done.stdout).lower()
        if "accounting storage is disabled" in text or "slurmdbd" in text:
            return None
        if done.returncode != 0:
            raise SlurmError(_message(done.stderr) or "sacct failed")
        out = {}
        for line in done.stdout.splitlines():
            parts = line.split("|")
            if len(parts) >= 4 and parts[0] in job_ids:
                out[parts[0]] = Accounting(parts[0], parts[1].split()[0], parts[2], _seconds(parts[3]))
        return out

    # ------------------------------------------------------------------------------------------ actions
    def submit(self, batch_script: str, workdir: str) -> str:
        """sbatch the script in ``workdir``; the job id. SlurmRefused with Slurm's reason when refused."""
        done = self._run("sbatch", ["--parsable", f"--chdir={workdir}", f"{workdir}/{batch_script}"])
        if done.returncode != 0:
            raise SlurmRefused(_message(done.stderr) or f"sbatch exited with status {done.returncode}")
        job_id = done.stdout.strip().split(";")[0]  # "id" or "id;cluster"
        if not job_id.isdigit():
            raise SlurmError(f"sbatch printed no job id: {done.stdout.strip()[:200]}")
        return job_id

    def cancel(self, job_id: str) -> None:
        done = self._run("scancel", [job_id])
        if done.returncode != 0:
            raise SlurmRefused(_message(done.stderr) or "scancel failed")


def _message(stderr: str) -> str:
    """Slurm's error without its program prefix: 'sbatch: error: Batch job submission failed: X' → 'X'."""
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    last = lines[-1]
    for prefix in ("Batch job submission failed:", "error:", "slurm_load_jobs error:", "scancel: error:"):
        if prefix in last:
            last = last.split(prefix, 1)[1].strip()
    return re.sub(r"^\w+: (error: )?", "", last).strip()


def _key_values(line: str) -> dict[str, str]:
    out = {}
    for token in line.split():
        if "=" in token:
            k, v = token.split("=", 1)
            out[k] = v
    return out
