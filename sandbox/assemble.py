"""Assembling a finished job's result document: status, diagnosed error, thermo, health, files, tails.

Called once LAMMPS has exited; whatever the job left behind, :func:`assemble` returns a document (never
raises). The pydantic model, log parsing and diagnosis are imported here, after the run, not before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import jobfiles, pictures
from .install import Capabilities
from .isolation import Execution
from .potentials import PotentialLibrary
from .script import Command

if TYPE_CHECKING:
    from .logparse import ParsedLog
    from .result import FileInfo, RunResult

_STATUS = {"exited": "ok", "timeout": "timeout", "killed": "killed", "error": "error"}


@dataclass
class JobView:
    """What assembly needs to know about the job."""

    name: str  # the user's script
    workdir: Path
    sources: Callable[[], list[tuple[str, list[Command]]]]  # main script and included files, parsed
    cmds: list[Command]
    library: PotentialLibrary
    caps: Callable[[], Capabilities | None]
    notes: list[str]


def files(workdir: Path) -> list[FileInfo]:
    from .result import FileInfo

    return [FileInfo(name=name, bytes=size) for name, size in jobfiles.regular_files(workdir)]


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


def limit_hint(status: str, reason: str | None) -> str | None:
    if status == "timeout":
        return "Shorten the run (fewer steps or atoms), use more ranks, or ask for a longer --timeout."
    if reason and "memory" in reason:
        return "The job needs more memory than allowed (MDBOT_JOB_MEMORY_MB): use fewer atoms or processes."
    if reason and ("wrote more" in reason or "size limit" in reason):
        return "Write output less often (thermo/dump/print frequency) or fewer quantities."
    if reason and ("files" in reason or "deep" in reason):
        return "The job created too many files or directories; write fewer, larger files."
    return None


def rejected(
    job: JobView,
    message: str,
    command: str | None = None,
    line: int | None = None,
    hint: str | None = None,
    file: str | None = None,
) -> RunResult:
    """A job refused before LAMMPS ran (the policy, or no sandbox available)."""
    from .result import ErrorInfo, HealthInfo, RunResult

    return RunResult(
        status="rejected",
        error=ErrorInfo(message=message, command=command, line=line, file=file or job.name, hint=hint),
        health=HealthInfo(ok=False, verdict="not run", reason="the script was refused before it ran"),
        files=files(job.workdir),
        workdir=str(job.workdir),
    )


def assemble(
    job: JobView,
    ex: Execution,
    log: ParsedLog,
    log_text: Callable[[], str],
    *,
    pictures_ok: bool,
    epilogue_from: int | None = None,
) -> RunResult:
    """The result document of a job that ran; ``log_text`` gives the log for the tail of a failed job."""
    from .result import ErrorInfo, HealthInfo, RunResult

    try:
        return _assemble(job, ex, log, log_text, pictures_ok=pictures_ok, epilogue_from=epilogue_from)
    except Exception as exc:  # noqa: BLE001 - crafted output must not take the caller down
        return RunResult(
            status="error",
            returncode=ex.returncode,
            wall_s=ex.wall_s,
            error=ErrorInfo(
                message=f"mdbot could not read this job's output ({type(exc).__name__}: {str(exc)[:200]})",
                hint="The job left files mdbot cannot process; see the job directory.",
            ),
            notes=job.notes,
            health=HealthInfo(ok=False, verdict="broken", reason="its output could not be read"),
            files=files(job.workdir),
            workdir=str(job.workdir),
        )


def _health_info(health, status: str):
    """The health of the document: a job that did not finish is never "ok" (its verdict is ``broken``)."""
    from .result import HealthInfo

    if status != "ok":
        return HealthInfo(ok=False, issues=health.issues, verdict="broken", reason=f"the run ended: {status}")
    return HealthInfo(ok=health.ok, issues=health.issues, verdict=health.verdict, reason=health.reason)


def _assemble(
    job: JobView,
    ex: Execution,
    log: ParsedLog,
    log_text: Callable[[], str],
    *,
    pictures_ok: bool,
    epilogue_from: int | None,
) -> RunResult:
    from .diagnose import diagnose
    from .health import assess
    from .result import ErrorInfo, Performance, RunResult, Thermo, subsample

    error = None
    status = _STATUS[ex.status]
    snapshot_failed = False
    if log.error:
        d = diagnose(log.error, job.sources(), job.caps(), job.library, [f.name for f in files(job.workdir)])
        if epilogue_from and log.error.last_input and "write_dump all image" in log.error.last_input:
            snapshot_failed = True  # our picture, not the user's script, failed: not a job error
        else:
            error = ErrorInfo(message=d.message, command=d.command, line=d.line, file=d.file, hint=d.hint)
            if status == "ok":
                status = "error"
    elif ex.status == "exited" and ex.returncode != 0:
        status = "error"
        error = ErrorInfo(
            message=f"LAMMPS exited with status {ex.returncode} without an error message",
            hint="See the console output below.",
        )
    if ex.status in ("timeout", "killed") or (ex.status == "error" and error is None):
        error = ErrorInfo(message=ex.reason or "the job was stopped", hint=limit_hint(ex.status, ex.reason))
    health = assess(log, job.cmds)
    if pictures_ok and not snapshot_failed:
        pictures.thermo_plots(log.tables, job.workdir, cmds=job.cmds, name=job.name)
        atoms = next((t.atoms for t in reversed(log.tables) if t.atoms), None)
        pictures.annotate_snapshot(job.workdir, log.final_step, job.cmds, atoms)  # step, legend, slab or box
    result = RunResult(
        status=status,
        returncode=ex.returncode,
        wall_s=ex.wall_s,
        error=error,
        warnings=log.warnings,
        notes=job.notes,
        thermo=[
            Thermo(columns=t.columns, rows=subsample(t.rows), rows_total=len(t.rows)) for t in log.tables
        ],
        health=_health_info(health, status),
        final_step=log.final_step,
        performance=Performance(timesteps_per_s=log.timesteps_per_s),
        files=files(job.workdir),
        workdir=str(job.workdir),
    )
    if status != "ok":
        result.console_tail = tail(log_text() or ex.console)
    return result
