"""Limits and the watchdog: rlimits set before the job starts, and what is polled and killed while it runs.

``prlimit`` caps CPU seconds, address space, file size, open files and the uid's process count. While the
job runs, a poll every 50 ms checks the wall clock, the bytes, entries and depth of its directories, and the
free disk; past any of them the whole process group (and the job's cgroup) is killed. A job writing at disk
speed can overshoot the output limit by what it writes in one poll; the per-file size limit is exact.
After the job, :func:`classify_exit` names the signal that ended it when that was a limit.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from mdbot.sandbox.cgroups import JobCgroup

from .errors import SandboxUnavailable


@dataclass
class Limits:
    timeout_s: float
    cpu_s: int
    memory_mb: int
    file_size_mb: int
    output_mb: int
    max_files: int
    max_processes: int
    kept_output_kb: int
    job_memory_mb: int = 8192
    max_open_files: int = 1024
    max_depth: int = 64
    min_free_disk_mb: int = 1024
    nproc_rlimit: int = 0  # the per-uid cap; 0 = max_processes (used when no cgroup caps the job)

    def __post_init__(self) -> None:
        if not self.nproc_rlimit:
            self.nproc_rlimit = self.max_processes


def prlimit(limits: Limits) -> list[str]:
    """The command prefix that applies the rlimits to everything after it."""
    exe = shutil.which("prlimit")
    if not exe:
        raise SandboxUnavailable("'prlimit' (util-linux) is required to apply resource limits")
    mb = 1024 * 1024
    return [
        exe,
        f"--cpu={limits.cpu_s}",
        f"--as={limits.memory_mb * mb}",
        f"--fsize={limits.file_size_mb * mb}",
        f"--nproc={limits.nproc_rlimit}",
        f"--nofile={limits.max_open_files}",
        "--core=0",
        "--",
    ]


class OverLimit(Exception):
    pass


def tree_usage(
    roots: tuple[Path, ...], max_entries: int, max_depth: int, max_bytes: int, hidden_bytes: int = 0
) -> tuple[int, int]:
    """Bytes and entries (files, directories, links) below ``roots``, stopping as soon as a limit is passed.

    Raises OverLimit with the reason when the tree is too large, too deep, or cannot be scanned (a job
    that makes its own tree unreadable to us is treated as over the limit, not as empty).
    """
    total, count = hidden_bytes, 0  # hidden: deleted files the job still holds open
    stack = [(str(r), 0) for r in roots]
    while stack:
        top, depth = stack.pop()
        if depth > max_depth:
            raise OverLimit(f"the job created directories more than {max_depth} levels deep")
        try:
            with os.scandir(top) as it:
                for entry in it:
                    count += 1
                    if count > max_entries:
                        raise OverLimit(f"the job created more than {max_entries} files and directories")
                    st = entry.stat(follow_symlinks=False)
                    if stat.S_ISDIR(st.st_mode):
                        stack.append((entry.path, depth + 1))
                    else:
                        total += st.st_blocks * 512  # what is on disk: fallocate -n keeps st_size at 0
                        if total > max_bytes:
                            raise OverLimit(f"the job wrote more than {max_bytes // (1024 * 1024)} MiB")
        except FileNotFoundError:
            continue  # removed while we looked
        except OSError as exc:
            raise OverLimit(f"the job's files could not be inspected ({exc.strerror})") from exc
    return total, count


def free_mb(path: Path) -> float:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize / (1024 * 1024)


def _check_disk(roots: tuple[Path, ...], limits: Limits, group: JobCgroup | None) -> None:
    """Raise OverLimit when the job's files or the free disk pass a limit."""
    hidden = group.unlinked_bytes() if group is not None else 0
    tree_usage(roots, limits.max_files, limits.max_depth, limits.output_mb * 1024 * 1024, hidden)
    if free_mb(roots[0]) < limits.min_free_disk_mb:
        raise OverLimit(f"the disk is nearly full (less than {limits.min_free_disk_mb} MiB free)")


def kill(proc: subprocess.Popen, group: JobCgroup | None) -> None:
    """Kill the job's process group and everything in its cgroup, and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if group is not None:
        group.kill_all()
    proc.wait()


def watch(
    proc: subprocess.Popen,
    limits: Limits,
    roots: tuple[Path, ...],
    group: JobCgroup | None,
    start: float,
    poll_s: float = 0.05,
) -> tuple[str, str | None]:
    """Wait for the job, killing it at the first limit passed: ("exited", None), ("timeout" | "killed", why)."""
    done = threading.Event()
    threading.Thread(target=lambda: (proc.wait(), done.set()), daemon=True).start()
    while not done.wait(poll_s):
        if time.monotonic() - start > limits.timeout_s:
            kill(proc, group)
            return "timeout", f"wall-clock limit of {limits.timeout_s:g} s reached"
        try:
            _check_disk(roots, limits, group)
        except OverLimit as exc:
            kill(proc, group)
            return "killed", str(exc)
    return "exited", None


def read_child_pid(fd: int) -> int | None:
    """bubblewrap's --info-fd JSON: the pid (in our namespace) of the sandbox's init process."""
    data = b""
    os.set_blocking(fd, False)  # written at start-up; never wait on a writer that might still be alive
    try:
        while chunk := os.read(fd, 4096):
            data += chunk
    except (BlockingIOError, OSError):
        pass
    finally:
        os.close(fd)
    try:
        return int(json.loads(data or b"{}").get("child-pid"))
    except (ValueError, TypeError):
        return None


def wait_gone(pid: int | None, limit_s: float = 10.0) -> None:
    """Wait until the sandbox's init has exited; the kernel finishes that only once every process of the
    namespace is dead, so nothing of the job can still change files while we post-process them."""
    if pid is None:
        return
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().split(") ", 1)[-1].startswith("Z"):
                    return  # a zombie: dead, only its parent has not reaped it
        except OSError:
            return
        time.sleep(0.01)


def signal_of(returncode: int) -> int | None:
    """The signal that ended the process: negative from Popen, 128+n from a shell or launcher in between."""
    if returncode < 0:
        return -returncode
    return returncode - 128 if returncode > 128 else None


def classify_exit(status: str, reason: str | None, sig: int | None, limits: Limits) -> tuple[str, str | None]:
    """(status, reason) once the signal is known: a job that "exited" by a limit's signal was killed."""
    if status != "exited" or sig not in (signal.SIGKILL, signal.SIGXCPU, signal.SIGXFSZ, signal.SIGSEGV):
        return status, reason
    names = {
        signal.SIGKILL: "killed (out of memory or a resource limit)",
        signal.SIGXCPU: f"CPU-time limit of {limits.cpu_s} s reached",
        signal.SIGXFSZ: f"a file reached the {limits.file_size_mb} MiB size limit",
        signal.SIGSEGV: "LAMMPS crashed (segmentation fault)",
    }
    return ("error" if sig == signal.SIGSEGV else "killed"), names[sig]
