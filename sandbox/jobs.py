"""Jobs: a LAMMPS input plus staged files → its own directory → a structured result.

``run`` executes the script with dynamics; ``check`` validates it without dynamics, in two passes: LAMMPS
with ``-skiprun`` over the whole script (parsing, styles, files, box and atom set-up), then the script up to
its first run with that run replaced by ``run 0 post no``, so the errors LAMMPS only raises when a run is
set up (pair coefficients not set, masses missing, lost atoms at step 0) are caught too.

Both go through :func:`_prepared` (the script and files staged, the policy applied, refused or ready) and
end in :mod:`.assemble`, which turns what LAMMPS left behind into the result document.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from . import isolation, jobfiles, mkdirs, pictures
from .assemble import JobView, assemble, rejected
from .install import Capabilities, LammpsNotFound, capabilities, find_lammps
from .policy import check_command
from .potentials import PotentialLibrary, library_for, referenced_files
from .script import Command, commands
from .settings import SandboxSettings

if TYPE_CHECKING:
    from .logparse import ParsedLog
    from .result import RunResult

# What is only needed once LAMMPS has finished (the pydantic result model, log parsing, diagnosis, health)
# is imported on a spare thread while LAMMPS runs: ~0.1 s off every command-line run.
_POST_MODULES = (".result", ".logparse", ".diagnose", ".health")


def _import_post_modules() -> None:
    import importlib

    for name in _POST_MODULES:
        importlib.import_module(name, __package__)


def _warm_up() -> None:
    threading.Thread(target=_import_post_modules, daemon=True).start()


LOG = "log.lammps"
RUN_INPUT = ".mdbot-run.in"
CHECK_INPUT = ".mdbot-check.in"
SETUP_INPUT = ".mdbot-setup.in"
RESERVED = {LOG, RUN_INPUT, CHECK_INPUT, SETUP_INPUT, pictures.SNAPSHOT, "thermo.png"}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+\-]{0,127}$")


class JobInputError(ValueError):
    """The request itself is unusable (missing file, bad name, limit out of range); nothing was run."""


def read_script(script: str | Path) -> tuple[str, str]:
    """(file name to stage it under, text); JobInputError for a missing, huge, binary or empty script."""
    if isinstance(script, Path):
        if not script.exists():
            raise JobInputError(f"script not found: {script}")
        if not script.is_file():
            raise JobInputError(f"not a file: {script}")
        data = script.read_bytes()
        name = script.name if _SAFE_NAME.match(script.name) else "in.lammps"
    else:
        data = script.encode()
        name = "in.lammps"
    if len(data) > 5 * 1024 * 1024:
        raise JobInputError(f"the script is {len(data) / 1e6:.1f} MB; input scripts are limited to 5 MB")
    if b"\0" in data:
        raise JobInputError("the script is a binary file, not a LAMMPS input script")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    if not text.strip():
        raise JobInputError("the script is empty")
    return name, text


def _stage(files: list[Path], workdir: Path, script_name: str, max_mb: int) -> None:
    seen = {script_name}
    for f in files:
        if not f.exists() or not f.is_file():
            raise JobInputError(f"input file not found: {f}")
        if not _SAFE_NAME.match(f.name):
            raise JobInputError(
                f"input file name '{f.name}' is not allowed: use letters, digits, '.', '_', '+', '-' only"
            )
        if f.name in seen:
            raise JobInputError(f"two input files are named '{f.name}'")
        if f.stat().st_size > max_mb * 1024 * 1024:
            raise JobInputError(f"input file '{f.name}' is larger than the {max_mb} MiB limit")
        seen.add(f.name)
        shutil.copyfile(f, workdir / f.name)


def _new_job(settings: SandboxSettings, kind: str) -> tuple[Path, Path]:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    job_id = f"{stamp}-{kind}-{secrets.token_hex(3)}"
    workdir = settings.jobs_dir / job_id
    scratch = settings.jobs_dir / ".scratch" / job_id
    workdir.mkdir(parents=True)
    scratch.mkdir(parents=True)
    return workdir.resolve(), scratch.resolve()


@functools.lru_cache(maxsize=4)
def _bwrap_problem(bwrap: str) -> str | None:
    return isolation.bwrap_available(bwrap)


def _caps(settings: SandboxSettings) -> Capabilities | None:
    try:
        return capabilities(settings.data_dir / "cache")
    except Exception:  # noqa: BLE001 - hints are a nicety; never fail a job over them
        return None


def _potential_mounts(cmds: list[Command], workdir: Path, library: PotentialLibrary) -> isolation.Mounts:
    mounts = isolation.Mounts()
    done: set[str] = set()
    for _cmd, name in referenced_files(cmds):
        # lexists: a name the job planted as a link must not make us stat the host path it points to
        if name in done or os.path.lexists(workdir / name):
            continue
        path = library.find(name)
        if path:
            mounts.ro_files.append((path, f"{isolation.POTENTIALS}/{name}"))
            done.add(name)
    return mounts


def _lmp_argv(input_name: str, ranks: int, threads: int, extra: list[str]) -> list[str]:
    argv = [
        isolation.LMP,
        "-in",
        input_name,
        "-log",
        LOG,
        "-screen",
        "none",
        "-echo",
        "log",
        "-nocite",
        *extra,
    ]
    if threads > 1:
        argv += ["-pk", "omp", str(threads), "-sf", "omp"]
    if ranks > 1:
        argv = [f"{isolation.MPI_BIN}/mpirun", "-np", str(ranks), *argv]
    return argv


def _limits(settings: SandboxSettings, timeout: float, threads: int) -> isolation.Limits:
    cpu = settings.cpu_s or int(timeout * max(threads, 1)) + 30
    return isolation.Limits(
        timeout_s=timeout,
        cpu_s=cpu,
        memory_mb=settings.memory_mb,
        file_size_mb=settings.file_size_mb,
        output_mb=settings.output_mb,
        max_files=settings.max_files,
        max_processes=settings.max_processes,
        kept_output_kb=settings.kept_output_kb,
        job_memory_mb=settings.job_memory_mb,
        max_open_files=settings.max_open_files,
        max_depth=settings.max_depth,
        min_free_disk_mb=settings.min_free_disk_mb,
    )


class _Job:
    """One prepared job directory: the user's script and files staged, the text LAMMPS will read."""

    def __init__(self, script, files, settings, kind):
        self.settings = settings
        self.name, original = read_script(script)
        self.workdir, self.scratch = _new_job(settings, kind)
        try:
            (self.workdir / self.name).write_text(original)  # the user's script is kept as given
            _stage(list(files), self.workdir, self.name, settings.max_input_mb)
        except BaseException:
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise
        # What LAMMPS reads: harmless `shell mkdir` lines become comments (mdbot makes the directories).
        self.text, self.mkdirs = mkdirs.plan(original)
        self.cmds = commands(self.text)
        self.library = library_for(settings)
        self.notes: list[str] = []
        self.refused: RunResult | None = None
        self.is_sandboxed = False
        self._log_patterns: list[str] | None = None
        self._pass_started_ns = 0

    def sources(self) -> list[tuple[str, list[Command]]]:
        from .script import script_sources

        return script_sources(self.name, self.text, self.workdir)

    @property
    def view(self) -> JobView:
        return JobView(
            self.name,
            self.workdir,
            self.sources,
            self.cmds,
            self.library,
            functools.partial(_caps, self.settings),
            self.notes,
        )

    def prepare(self) -> None:
        """Refuse what the policy forbids or what cannot be sandboxed; do the planned `shell mkdir`s."""
        self.refused = self._policy()
        if self.refused:
            return
        problem = _bwrap_problem(self.settings.bwrap)
        if problem is not None and not self.settings.allow_unsandboxed:
            self.refused = rejected(self.view, problem)
            return
        self.is_sandboxed = problem is None
        for m in self.mkdirs:
            if not mkdirs.create(self.workdir, m.dirs):  # a staged file is in the way: refused like any shell
                v = check_command(commands(m.text)[0])[0]
                self.refused = rejected(self.view, v.message, m.text, m.line, _REFUSED_HINT)
                return
            self.notes.append(m.note)

    def _policy(self) -> RunResult | None:
        for fname, cmds in self.sources():
            violations = [v for cmd in cmds for v in check_command(cmd)]
            if violations:
                v = violations[0]
                more = (
                    f" ({len(violations) - 1} more problem(s) in the script)" if len(violations) > 1 else ""
                )
                return rejected(self.view, v.message + more, v.command, v.line, _REFUSED_HINT, file=fname)
        return None

    def execute(
        self,
        input_name: str,
        input_text: str,
        *,
        timeout: float,
        ranks: int,
        threads: int,
        extra: list[str] | None = None,
    ) -> isolation.Execution:
        """One LAMMPS pass over ``input_text``."""
        # Anything but a regular file under the names mdbot uses is moved aside, before and after the pass
        # (the job may have planted one); the input is written fresh, never through a link.
        jobfiles.clear_reserved(self.workdir, RESERVED, ("thermo-", ".png"))
        jobfiles.write_text(self.workdir / input_name, input_text)
        log = self.workdir / LOG
        if log.is_symlink():
            log.unlink()
        self._pass_started_ns = time.time_ns()
        execution = isolation.execute(
            _lmp_argv(input_name, ranks, threads, extra or []),
            workdir=self.workdir,
            scratch=self.scratch,
            data_dir=self.settings.data_dir.resolve(),
            inst=find_lammps(),
            limits=_limits(self.settings, timeout, threads),
            env=isolation.sandbox_env(threads),
            mounts=_potential_mounts(self.cmds, self.workdir, self.library),
            sandboxed=self.is_sandboxed,
            bwrap=self.settings.bwrap,
            sandbox_uid=self.settings.sandbox_uid,
        )
        jobfiles.clear_reserved(self.workdir, RESERVED, ("thermo-", ".png"))  # what this pass left
        return execution

    def log_text(self, keep: int | None = None) -> str:
        """The last pass's log: log.lammps, then whatever the script's `log` commands switched to."""
        from .logfiles import log_patterns, read_pass_log

        if self._log_patterns is None:
            self._log_patterns = log_patterns(self.sources())
        return read_pass_log(self.workdir, LOG, self._log_patterns, self._pass_started_ns, keep)

    def parsed_log(self) -> ParsedLog:
        from .logparse import parse_text

        return parse_text(self.log_text())

    def result(
        self, ex: isolation.Execution, log: ParsedLog, *, pictures_ok: bool, epilogue_from: int | None = None
    ) -> RunResult:
        """The result document. Whatever the job left behind, this returns one (never raises)."""
        return assemble(
            self.view,
            ex,
            log,
            lambda: self.log_text(keep=64 * 1024),
            pictures_ok=pictures_ok,
            epilogue_from=epilogue_from,
        )

    def cleanup(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


_REFUSED_HINT = "The sandbox refuses this before running; remove or replace the command."


@contextlib.contextmanager
def _prepared(script, files, settings: SandboxSettings, kind: str) -> Iterator[_Job]:
    """A staged job for ``run`` or ``check``: ``job.refused`` is its result when it must not run at all.

    The job's scratch area (private /tmp, console) is removed when the block ends; the job directory stays.
    """
    job = _Job(script, files, settings, kind)
    try:
        job.prepare()
        yield job
    finally:
        job.cleanup()


def _validate(settings: SandboxSettings, ranks: int, threads: int, timeout: float | None) -> float:
    if ranks < 1 or ranks > settings.max_ranks:
        raise JobInputError(f"--np must be between 1 and {settings.max_ranks} (MDBOT_MAX_RANKS)")
    if threads < 1 or threads > settings.max_threads:
        raise JobInputError(f"threads must be between 1 and {settings.max_threads} (MDBOT_MAX_THREADS)")
    t = settings.timeout_s if timeout is None else timeout
    if t <= 0 or t > settings.max_timeout_s:
        raise JobInputError(
            f"--timeout must be more than 0 and at most {settings.max_timeout_s:g} s (MDBOT_MAX_TIMEOUT_S)"
        )
    return t


def run(
    script: str | Path,
    files: list[Path] | tuple[Path, ...] = (),
    *,
    ranks: int = 1,
    threads: int = 1,
    timeout: float | None = None,
    settings: SandboxSettings | None = None,
    pictures_ok: bool | None = None,
) -> RunResult:
    """Run a LAMMPS input in the sandbox. Raises JobInputError for unusable requests only."""
    settings = settings or SandboxSettings()
    timeout = _validate(settings, ranks, threads, timeout)
    find_lammps()
    draw = settings.pictures if pictures_ok is None else pictures_ok
    with _prepared(script, files, settings, "run") as job:
        if job.refused:
            return job.refused
        _warm_up()
        if draw:
            pictures.preload()
        epilogue = pictures.snapshot_epilogue(settings.snapshot_size) if draw else ""
        text = job.text if job.text.endswith("\n") else job.text + "\n"
        ex = job.execute(RUN_INPUT, text + epilogue, timeout=timeout, ranks=ranks, threads=threads)
        return job.result(
            ex, job.parsed_log(), pictures_ok=draw, epilogue_from=len(text.splitlines()) + 1 if draw else None
        )


def _setup_prefix(cmds: list[Command], text: str) -> tuple[str, Command] | None:
    """The script up to its first top-level run/minimize, which becomes a zero-step run."""
    for cmd in cmds:
        if cmd.name in ("run", "minimize", "rerun"):
            lines = text.splitlines()[: cmd.line - 1]
            return "\n".join(lines) + "\nrun 0 post no\n", cmd
        if cmd.name in ("jump", "label", "if", "next"):
            return None  # control flow: the -skiprun pass is what we can do safely
    return None


def check(
    script: str | Path,
    files: list[Path] | tuple[Path, ...] = (),
    *,
    settings: SandboxSettings | None = None,
    timeout: float | None = None,
) -> RunResult:
    """Validate without dynamics (policy, then LAMMPS ``-skiprun``, then a zero-step setup)."""
    settings = settings or SandboxSettings()
    timeout = timeout or settings.check_timeout_s
    find_lammps()
    with _prepared(script, files, settings, "check") as job:
        if job.refused:
            return job.refused
        start = time.monotonic()
        ex = job.execute(CHECK_INPUT, job.text, timeout=timeout, ranks=1, threads=1, extra=["-skiprun"])
        log = job.parsed_log()
        if ex.status == "exited" and not log.error and ex.returncode == 0:
            setup = _setup_prefix(job.cmds, job.text)
            remaining = timeout - (time.monotonic() - start)  # one deadline for both passes
            if setup is not None and remaining > 0.5:
                prefix, first_run = setup
                ex = job.execute(SETUP_INPUT, prefix, timeout=remaining, ranks=1, threads=1)
                log = job.parsed_log()
                if log.error and log.error.last_input in (None, "run 0 post no"):
                    # The error came from setting up the user's first run: point at that line.
                    log.error.last_input = first_run.text
        ex.wall_s = round(time.monotonic() - start, 3)
        return job.result(ex, log, pictures_ok=False)


__all__ = ["run", "check", "JobInputError", "LammpsNotFound", "RunResult"]
