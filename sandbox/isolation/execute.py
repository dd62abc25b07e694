"""``execute``: one command run contained, from scratch directories to the Execution record.

It only orchestrates: the command line comes from :mod:`.bwrap` (or a plain host command in the weaker
unsandboxed mode), the rlimits and the watchdog from :mod:`.watchdog`, the uid switch and ownership from
:mod:`.privileges`, the memory and process totals from :mod:`..cgroups`.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from mdbot.sandbox import cgroups
from mdbot.sandbox.install import LammpsInstall

from . import privileges, watchdog
from .bwrap import LMP, Mounts, bwrap_command
from .errors import SandboxUnavailable
from .watchdog import Limits


@dataclass
class Execution:
    """What happened to the process, independent of what LAMMPS printed."""

    returncode: int
    wall_s: float
    status: str  # "exited" | "timeout" | "killed" | "error"
    reason: str | None = None
    console: str = ""
    signal: int | None = None


def _read_capped(path: Path, keep: int) -> str:
    """Head and tail of a console file, so a flood cannot fill memory or the result."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            if size <= keep:
                data = fh.read()
            else:
                head = fh.read(keep // 2)
                fh.seek(size - keep // 2)
                tail = fh.read()
                data = head + f"\n[… {size - keep} bytes of console output omitted …]\n".encode() + tail
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")


def _unsandboxed(
    argv: list[str], env: dict[str, str], inst: LammpsInstall, workdir: Path, scratch: Path, mounts: Mounts
) -> tuple[list[str], dict[str, str]]:
    """The weaker mode: same limits and scrubbed environment, but the host filesystem is visible."""
    host_env = dict(env)
    host_env["PATH"] = os.pathsep.join(
        str(p) for p in (inst.mpi_bin_dir, Path("/usr/bin"), Path("/bin")) if p
    )
    host_env["LD_LIBRARY_PATH"] = str(inst.mpi_lib_dir or "")
    host_env["LAMMPS_POTENTIALS"] = str(scratch / "potentials")
    host_env["TMPDIR"] = str(scratch / "tmp")
    host_env["HOME"] = str(workdir)
    pot = scratch / "potentials"
    pot.mkdir(exist_ok=True)
    for host, inside in mounts.ro_files:
        link = pot / Path(inside).name
        if not link.exists():
            link.symlink_to(host)
    return [str(inst.lmp) if a == LMP else a for a in argv], host_env


def _bind_sources(
    workdir: Path, scratch: Path, data_dir: Path, inst: LammpsInstall, mounts: Mounts
) -> list[Path]:
    """Every host directory bubblewrap opens as the sandbox uid."""
    return [
        workdir,
        scratch,
        data_dir,
        inst.package_dir,
        *(d for d in (inst.libs_dir, inst.mpi_lib_dir, inst.mpi_bin_dir) if d),
        *(host.parent for host, _ in mounts.ro_files),
    ]


def _start(
    full: list[str], workdir: Path, env: dict[str, str], console, info_w: int | None
) -> subprocess.Popen:
    try:
        return subprocess.Popen(
            full,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            pass_fds=(info_w,) if info_w is not None else (),
        )
    except OSError as exc:
        raise SandboxUnavailable(f"cannot start the sandbox: {exc}") from exc
    finally:
        if info_w is not None:
            os.close(info_w)


def execute(
    argv: list[str],
    *,
    workdir: Path,
    scratch: Path,
    data_dir: Path,
    inst: LammpsInstall,
    limits: Limits,
    env: dict[str, str],
    mounts: Mounts,
    sandboxed: bool,
    bwrap: str = "bwrap",
    sandbox_uid: int = 65534,
    poll_s: float = 0.05,
) -> Execution:
    """Run ``argv`` in the job directory under all limits; never raises for anything the job does."""
    for sub in ("tmp", "shm"):
        (scratch / sub).mkdir(parents=True, exist_ok=True)
    console_path = scratch / "console.txt"
    drop_root = sandboxed and os.geteuid() == 0
    with cgroups.job_cgroup(workdir.name, limits.job_memory_mb, limits.max_processes) as group:
        if group is not None:
            # The cgroup caps this job's processes; the per-uid rlimit is shared by every job of the uid, so
            # it only guards against runaway totals and must not let one job starve the others.
            limits = dataclasses.replace(limits, nproc_rlimit=max(limits.max_processes * 16, 4096))
        info_r = info_w = None
        if sandboxed:
            info_r, info_w = os.pipe()
            command = bwrap_command(bwrap, inst, workdir, scratch, data_dir, mounts, argv, info_w)
        else:
            command, env = _unsandboxed(argv, env, inst, workdir, scratch, mounts)
        prefix = watchdog.prlimit(limits)
        if drop_root:
            privileges.ensure_reachable(_bind_sources(workdir, scratch, data_dir, inst, mounts), sandbox_uid)
            privileges.hand_over((workdir, scratch), sandbox_uid)
            # Privileges are dropped by setpriv after the launcher (as root) has joined the job's cgroup.
            prefix += privileges.drop_to(sandbox_uid)
        full = prefix + command
        if group is not None:
            full = cgroups.launcher(group, full)

        start = time.monotonic()
        with console_path.open("wb") as console:
            proc = _start(full, workdir, env, console, info_w)
            status, reason = watchdog.watch(proc, limits, (workdir, scratch), group, start, poll_s)
        wall = time.monotonic() - start
        if info_r is not None:
            watchdog.wait_gone(watchdog.read_child_pid(info_r))
        if group is not None:
            group.kill_all()  # anything that escaped the process group (unsandboxed mode: setsid)
            if group.oom_killed():
                status, reason = (
                    "killed",
                    f"the job used more than {limits.job_memory_mb} MiB of memory in total",
                )
        if drop_root:
            privileges.take_back(workdir)
        sig = watchdog.signal_of(proc.returncode)
        status, reason = watchdog.classify_exit(status, reason, sig, limits)
        console_text = _read_capped(console_path, limits.kept_output_kb * 1024)
        return Execution(proc.returncode, round(wall, 3), status, reason, console_text, sig)
