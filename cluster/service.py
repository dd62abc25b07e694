"""The cluster's front door: who may submit what, the sandboxed test before submitting, submit, cancel, list.

A submission has three steps, each of which can stop it with a message for the member:

1. :meth:`Cluster.plan` — access (allowlist or user group), the member's and the lab's open-job limits, the
   request against the largest allowed and against the partition (unknown partition, time above its
   maximum), the script against the sandbox's policy.
2. :meth:`Cluster.test` — ``check`` and a short sandboxed run (every ``run`` cut to a few hundred steps),
   so that a job does not wait in the queue for an hour and then die on line 12.
3. :meth:`Cluster.submit` — after the member confirmed: the job directory on the shared file system (the
   script with restart output added, its files, the batch script), then ``sbatch``. A refusal leaves a
   journal row saying why and no job directory: nothing is half-submitted.
"""

from __future__ import annotations

import getpass
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import template
from .settings import ClusterSettings, format_time, parse_time
from .slurm import ControllerDown, Slurm, SlurmError, SlurmRefused
from .store import JobRecord, JobStore, new_id, now
from .template import Resources
from .transport import Transport, TransportError, transport_for

if TYPE_CHECKING:
    from mdbot.sandbox.result import RunResult
    from mdbot.sandbox.settings import SandboxSettings

log = logging.getLogger(__name__)
MAX_STORED_THERMO = 5  # rows of each thermo table kept in the journal's copy of a result


class ClusterError(Exception):
    """A request mdbot will not pass on, with the reason in words for the member. ``kind`` names the case
    (access, limit, request, partition, controller, ssh, disk, refused, state) for the JSON document."""

    def __init__(self, message: str, kind: str = "request"):
        super().__init__(message)
        self.kind = kind


@dataclass
class Plan:
    """A request that passed the checks that need no LAMMPS."""

    script_name: str
    script: str
    files: list[Path]
    resources: Resources
    user: str | None
    parent_id: str | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        r = self.resources
        bits = [f"{r.nodes} node(s)", f"{r.ntasks} task(s)", f"time {format_time(r.time_s)}"]
        bits.append(f"partition {r.partition or '(default)'}")
        if r.account:
            bits.append(f"account {r.account}")
        if r.qos:
            bits.append(f"QOS {r.qos}")
        return ", ".join(bits)


@dataclass
class Prepared:
    """A plan with its sandboxed test run: ``problem`` is None when it may be submitted."""

    plan: Plan
    test_run: RunResult
    problem: str | None
    submit_text: str  # the script as submitted (restart output added where missing)
    restart_added: bool


def slim(result: dict | None) -> dict | None:
    """A result document for the journal: thermo tables cut to their last rows (the log keeps them all)."""
    if not result:
        return result
    out = dict(result)
    out["thermo"] = [{**t, "rows": t.get("rows", [])[-MAX_STORED_THERMO:]} for t in result.get("thermo", [])]
    return out


class Cluster:
    """One cluster, its job store and its sandbox settings. Thread-safe (the store is)."""

    def __init__(
        self,
        settings: ClusterSettings,
        store: JobStore,
        sandbox: SandboxSettings,
        *,
        transport: Transport | None = None,
        group_members: Callable[[str], set[str] | None] | None = None,
    ):
        problems = settings.problems()
        if problems:
            raise ValueError("; ".join(problems))
        self.settings, self.store, self.sandbox = settings, store, sandbox
        self.transport = transport or transport_for(settings, Path(sandbox.data_dir))
        self.slurm = Slurm(self.transport, settings.slurm_bin)
        self.group_members = group_members  # Slack user group → member IDs (the bot provides it)
        self.mirror_dir = Path(sandbox.data_dir) / "cluster"  # local copies of job directories (ssh mode)

    @property
    def name(self) -> str:
        return self.settings.name

    def close(self) -> None:
        self.transport.close()

    # ------------------------------------------------------------------------------------------ access
    def refusal(self, user: str | None) -> str | None:
        """Why ``user`` may not submit, or None. Command-line users (``user`` None) have the host already."""
        s = self.settings
        if user is None or (not s.users and not s.user_group):
            return None
        if user in s.users or user in s.admins:
            return None
        if s.user_group and self.group_members is not None:
            members = self.group_members(s.user_group)
            if members is not None and user in members:
                return None
        who = "the members of the lab's cluster group" if s.user_group else "the lab's listed cluster users"
        return f"Only {who} may submit jobs to {s.name}; ask a lab admin to add you."

    def may_cancel(self, job: JobRecord, user: str | None) -> bool:
        return user is None or user == job.user_id or user in self.settings.admins

    def _limits(self, user: str | None) -> None:
        s = self.settings
        if user is not None and self.store.count_open(user) >= s.max_open_per_user:
            raise ClusterError(
                f"You have {s.max_open_per_user} open job(s) on {s.name} already (the most one member may have); "
                "wait for one to end or cancel one.",
                "limit",
            )
        if self.store.count_open() >= s.max_open_lab:
            raise ClusterError(
                f"The lab has {s.max_open_lab} open job(s) on {s.name} (its limit); try again when some have ended.",
                "limit",
            )

    # ------------------------------------------------------------------------------------------ step 1
    def plan(
        self,
        script: str | Path,
        files: list[Path] | tuple[Path, ...] = (),
        *,
        user: str | None = None,
        nodes: int | None = None,
        ntasks: int | None = None,
        time: str | None = None,
        partition: str | None = None,
        parent_id: str | None = None,
    ) -> Plan:
        """Check a request without running LAMMPS; ClusterError says why it cannot go on."""
        from mdbot.sandbox.jobs import JobInputError, read_script
        from mdbot.sandbox.policy import check_script

        s = self.settings
        refusal = self.refusal(user)
        if refusal:
            raise ClusterError(refusal, "access")
        self._limits(user)
        try:
            name, text = read_script(script)
        except JobInputError as exc:
            raise ClusterError(str(exc), "request") from exc
        for f in files:
            if not Path(f).is_file():
                raise ClusterError(f"input file not found: {f}", "request")
        violations = check_script(text)
        if violations:
            v = violations[0]
            where = f" (line {v.line}: {v.command})" if v.line else ""
            raise ClusterError(
                f"The cluster runs scripts as the lab's account, so the sandbox's rules apply: {v.message}{where}.",
                "policy",
            )
        nodes = s.default_nodes if nodes is None else nodes
        ntasks = s.default_ntasks if ntasks is None else ntasks
        if not 1 <= nodes <= s.max_nodes:
            raise ClusterError(
                f"--nodes must be between 1 and {s.max_nodes} (MDBOT_CLUSTER_MAX_NODES)", "request"
            )
        if not 1 <= ntasks <= s.max_ntasks:
            raise ClusterError(
                f"--ntasks must be between 1 and {s.max_ntasks} (MDBOT_CLUSTER_MAX_NTASKS)", "request"
            )
        if ntasks < nodes:
            raise ClusterError("--ntasks must be at least --nodes (one task per node at least)", "request")
        try:
            time_s = parse_time(time) if time else s.default_time_s
        except ValueError as exc:
            raise ClusterError(str(exc), "request") from exc
        if time_s <= 0:
            raise ClusterError("--time must be longer than zero", "request")
        if time_s > s.max_time_s:
            raise ClusterError(
                f"--time {format_time(time_s)} is above the lab's maximum of {format_time(s.max_time_s)} "
                "(MDBOT_CLUSTER_MAX_TIME)",
                "request",
            )
        part = self._partition(partition or s.partition, time_s, nodes)
        resources = Resources(nodes, ntasks, time_s, part, s.account_for(user), s.qos)
        notes = []
        if time_s % 60:
            notes.append("Slurm counts time limits in whole minutes: this one rounds up to the next minute.")
        return Plan(name, text, [Path(f) for f in files], resources, user, parent_id, notes)

    def _partition(self, name: str, time_s: int, nodes: int) -> str:
        try:
            parts = self.slurm.partitions()
        except ControllerDown as exc:
            raise ClusterError(
                f"{self.name}'s Slurm controller is not answering ({exc}); nothing was submitted, try again later.",
                "controller",
            ) from exc
        except TransportError as exc:
            raise ClusterError(f"I can't reach {self.name}: {exc}. Nothing was submitted.", "ssh") from exc
        except SlurmError as exc:
            raise ClusterError(f"Slurm could not list its partitions: {exc}", "controller") from exc
        if not name:
            default = next((p for p in parts.values() if p.default), None)
            if default is None:
                raise ClusterError(
                    f"{self.name} has no default partition: name one with --partition", "partition"
                )
            part = default
        elif name not in parts:
            known = ", ".join(sorted(parts)) or "none"
            raise ClusterError(
                f"{self.name} has no partition '{name}' (its partitions: {known})", "partition"
            )
        else:
            part = parts[name]
        if part.max_time_s is not None and time_s > part.max_time_s:
            raise ClusterError(
                f"--time {format_time(time_s)} is above the longest the '{part.name}' partition allows "
                f"({format_time(part.max_time_s)})",
                "partition",
            )
        if part.max_nodes is not None and nodes > part.max_nodes:
            raise ClusterError(
                f"the '{part.name}' partition allows at most {part.max_nodes} node(s)", "partition"
            )
        if part.state != "UP":
            raise ClusterError(f"the '{part.name}' partition is {part.state}, not taking jobs", "partition")
        return name  # as asked: empty keeps Slurm's own default

    # ------------------------------------------------------------------------------------------ step 2
    def test(self, plan: Plan) -> Prepared:
        """``check`` and a short sandboxed run of the script as it will be submitted."""
        from mdbot.sandbox.jobs import check, run

        submit_text, added = template.with_restart(plan.script, self.settings.restart_every)
        checked = check(submit_text, plan.files, settings=self.sandbox)
        if checked.status != "ok":
            return Prepared(plan, checked, _problem("the check", checked), submit_text, added)
        short = template.test_script(submit_text, self.settings.test_steps)
        result = run(short, plan.files, settings=self.sandbox, timeout=self.settings.test_timeout_s)
        problem = None
        if result.status == "timeout" and result.error is None:
            problem = None  # pragma: no cover - the sandbox always says why it stopped
        elif result.status == "timeout" and (result.final_step or 0) > 0:
            problem = None  # ran without error for the whole test time: good enough to queue
        elif result.status != "ok":
            problem = _problem("the short test run", result)
        return Prepared(plan, result, problem, submit_text, added)

    # ------------------------------------------------------------------------------------------ step 3
    def submit(
        self,
        prepared: Prepared,
        *,
        thread_id: str | None = None,
        channel: str | None = None,
        status_ts: str | None = None,
    ) -> JobRecord:
        """Stage and sbatch a tested plan. A refusal is a row with state REFUSED and the reason in ``error``
        (and a ClusterError for a request that never reached Slurm)."""
        if prepared.problem:
            raise ClusterError(prepared.problem, "test")
        plan = prepared.plan
        self._limits(plan.user)  # again: other jobs may have been submitted since the plan
        s = self.settings
        job_id = new_id()
        remote = f"{str(s.shared_dir).rstrip('/')}/{job_id}"
        local = Path(remote) if self.transport.shared_fs else self.mirror_dir / job_id
        notes = list(plan.notes)
        if prepared.restart_added:
            notes.append(
                f"mdbot added 'restart {s.restart_every} {template.RESTART_PREFIX}.*' before the first run, "
                "so the job can be continued if it runs out of time."
            )
        record = JobRecord(
            id=job_id,
            cluster=s.name,
            script_name=plan.script_name,
            script=prepared.submit_text,
            workdir=remote,
            local_dir=str(local),
            state="SUBMITTING",
            open=False,
            thread_id=thread_id,
            user_id=plan.user,
            channel=channel,
            status_ts=status_ts,
            files=[f.name for f in plan.files],
            resources=plan.resources.as_dict(),
            history=[{"at": now().isoformat(), "state": "SUBMITTING", "reason": None}],
            test_run=slim(prepared.test_run.model_dump()),
            notes=notes,
            parent_id=plan.parent_id,
        )
        self.store.add(record)
        try:
            self._stage(record, prepared, plan)
            cluster_id = self.slurm.submit(template.BATCH, remote)
        except (SlurmRefused, ControllerDown, TransportError, SlurmError, OSError, ClusterError) as exc:
            message, kind = _submit_failure(exc, s.name)
            self._unstage(record)
            return self.store.record_state(record, "REFUSED", kind, error=message, ended_at=now())
        return self.store.record_state(
            record, "PENDING", None, cluster_id=cluster_id, open=True, submitted_at=now()
        )

    def _stage(self, record: JobRecord, prepared: Prepared, plan: Plan) -> None:
        s = self.settings
        free = self.transport.free_mb(str(s.shared_dir))
        if free is not None and free < s.min_free_mb:
            raise ClusterError(
                f"the shared directory {s.shared_dir} has only {free} MiB free (mdbot needs {s.min_free_mb} MiB, "
                "MDBOT_CLUSTER_MIN_FREE_MB); nothing was submitted",
                "disk",
            )
        staging = self.mirror_dir / ".staging" / record.id
        staging.mkdir(parents=True)
        try:
            (staging / plan.script_name).write_text(prepared.submit_text)
            for f in plan.files:
                shutil.copyfile(f, staging / f.name)
            batch = template.batch_script(
                job_name=f"mdbot-{record.id}",
                input_name=plan.script_name,
                resources=plan.resources,
                env_lines=s.env_lines,
                lammps_command=s.lammps_command,
            )
            (staging / template.BATCH).write_text(batch)
            if self.transport.shared_fs:
                Path(record.workdir).parent.mkdir(parents=True, exist_ok=True)
            self.transport.put(staging, record.workdir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _unstage(self, record: JobRecord) -> None:
        try:
            if self.transport.shared_fs:
                shutil.rmtree(record.workdir, ignore_errors=True)
            else:
                self.transport.run(["rm", "-rf", "--", record.workdir])
        except (OSError, TransportError):
            log.warning("could not remove the refused job's directory %s", record.workdir)

    # ------------------------------------------------------------------------------------------ others
    def cancel(self, key: str, user: str | None = None) -> JobRecord:
        """scancel an open job (its owner, an admin, or the command line); ClusterError otherwise."""
        job = self.store.find(key)
        if job is None:
            raise ClusterError(f"no job {key} in the journal", "request")
        if not self.may_cancel(job, user):
            raise ClusterError(
                "Only the member who submitted this job or a lab admin may cancel it.", "access"
            )
        if not job.open or not job.cluster_id:
            raise ClusterError(f"job {job.id} is not queued or running (it is {job.state})", "state")
        try:
            self.slurm.cancel(job.cluster_id)
        except ControllerDown as exc:
            raise ClusterError(
                f"{self.name}'s Slurm controller is not answering ({exc}); try again.", "controller"
            ) from exc
        except TransportError as exc:
            raise ClusterError(f"I can't reach {self.name}: {exc}", "ssh") from exc
        except SlurmError as exc:
            raise ClusterError(f"Slurm would not cancel job {job.cluster_id}: {exc}", "refused") from exc
        history = [
            *job.history,
            {
                "at": now().isoformat(),
                "state": job.state,
                "note": f"cancel requested by {user or getpass.getuser()}",
            },
        ]
        self.store.update(job.id, history=history)
        return self.store.get(job.id) or job

    def continuation_plan(self, job: JobRecord, user: str | None) -> Plan:
        """The plan that continues a job that ran out of time, from its last restart file."""
        if not self.may_cancel(job, user):
            raise ClusterError(
                "Only the member who submitted this job or a lab admin may continue it.", "access"
            )
        local = Path(job.local_dir)
        names = [p.name for p in local.iterdir()] if local.is_dir() else []
        last = template.last_restart(names)
        if last is None:
            raise ClusterError(
                "The job wrote no restart file before it was stopped, so it cannot be continued.", "state"
            )
        restart_name, step = last
        try:
            text = template.continuation(job.script, restart_name, step)
        except template.ContinuationError as exc:
            raise ClusterError(f"I can't write the continuation myself: {exc}.", "state") from exc
        files = [local / n for n in job.files if (local / n).is_file()] + [local / restart_name]
        r = job.resources
        plan = self.plan(
            text,
            files,
            user=user if user is not None else job.user_id,
            nodes=r.get("nodes"),
            ntasks=r.get("ntasks"),
            time=r.get("time"),
            partition=r.get("partition") or None,
            parent_id=job.id,
        )
        plan.script_name = job.script_name
        plan.notes.append(f"Continues job {job.cluster_id} ({job.id}) from {restart_name} (step {step:,}).")
        return plan


def _problem(what: str, result: RunResult) -> str:
    err = result.error
    if err is None:
        return f"{what} ended with status {result.status}"
    where = f" (line {err.line}: {err.command})" if err.line and err.command else ""
    hint = f" {err.hint}" if err.hint else ""
    return f"{what} failed: {err.message}{where}.{hint}"


def _submit_failure(exc: Exception, name: str) -> tuple[str, str]:
    if isinstance(exc, ClusterError):
        return str(exc), exc.kind
    if isinstance(exc, SlurmRefused):
        return f"Slurm refused the job: {exc}", "refused"
    if isinstance(exc, ControllerDown):
        return (
            f"{name}'s Slurm controller is not answering ({exc}); nothing was submitted, try again later.",
            "controller",
        )
    if isinstance(exc, TransportError):
        return f"I can't reach {name}: {exc}. Nothing was submitted.", "ssh"
    if isinstance(exc, OSError):
        full = getattr(exc, "errno", None) == 28
        what = "the shared directory is full" if full else f"could not write the job directory ({exc})"
        return f"{what}; nothing was submitted", "disk"
    return f"Slurm failed: {exc}", "refused"
