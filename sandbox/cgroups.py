"""Per-job control groups: a memory total and a process cap for the whole job, not per process.

Resource limits (rlimits) bound each process; a job of many processes could still take all memory, and a
per-uid process limit is shared by every job running as that uid (one job's fork storm stops the others
from starting). A cgroup per job fixes both. It needs a writable cgroup hierarchy — cgroup v1 ``memory``
and ``pids`` controllers, or cgroup v2 with both enabled — which root has on most hosts; elsewhere the
rlimits are what there is, and :func:`create` returns None.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

V1 = Path("/sys/fs/cgroup")
PARENT = "mdbot"


@dataclass
class JobCgroup:
    dirs: list[Path]  # one per hierarchy (v1: memory and pids; v2: one)
    version: int

    @property
    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs]

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the job for exceeding the memory total."""
        for d in self.dirs:
            for name in ("memory.events", "memory.oom_control"):
                try:
                    text = (d / name).read_text()
                except OSError:
                    continue
                for line in text.splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and value.strip().isdigit() and int(value) > 0:
                        return True
        return False

    def pids(self) -> set[int]:
        found: set[int] = set()
        for f in self.procs_files:
            try:
                found |= {int(p) for p in f.read_text().split()}
            except (OSError, ValueError):
                continue
        return found

    def unlinked_bytes(self) -> int:
        """Disk held by files the job deleted but keeps open: invisible by name, charged to this job."""
        total = 0
        seen: set[tuple[int, int]] = set()
        for pid in self.pids():
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    st = os.stat(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode) and st.st_nlink == 0 and (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
        return total

    def kill_all(self, wait_s: float = 5.0) -> None:
        """SIGKILL every process still in the job's cgroup and wait until it is empty."""
        import signal
        import time

        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.01)

    def remove(self) -> None:
        for d in self.dirs:
            try:
                d.rmdir()
            except OSError:
                pass


def _write(path: Path, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def _own_paths() -> dict[str, str]:
    """This process's cgroup per controller ("memory", "pids", or "" for cgroup v2), from /proc/self/cgroup.

    Job cgroups are made *below* mdbot's own, so a service's limits (systemd MemoryMax, TasksMax) still
    cover every job it starts.
    """
    out: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            out[c] = path.lstrip("/")
    return out


def _v2_base() -> Path | None:
    if not (V1 / "cgroup.controllers").exists():  # /sys/fs/cgroup itself is the v2 hierarchy
        return None
    own = V1 / _own_paths().get("", "")
    controllers = (own / "cgroup.controllers").read_text().split()
    return own if {"memory", "pids"} <= set(controllers) else None


def available() -> bool:
    """Whether per-job cgroups can be made here (v2 with the memory and pids controllers delegated)."""
    try:
        return _v2_base() is not None
    except OSError:
        return False


def create(job_id: str, memory_mb: int, max_pids: int) -> JobCgroup | None:
    """A cgroup for one job below mdbot's own, or None when this host does not let us make one.

    On cgroup v2 the controllers must be delegated to mdbot's cgroup and mdbot must not sit in the cgroup it
    delegates from (systemd: ``Delegate=yes``); where that fails, None and the per-process limits apply.
    """
    if os.geteuid() != 0:
        return None
    made: list[Path] = []
    try:
        v2 = _v2_base()
        if v2 is not None:
            parent = v2 / PARENT
            parent.mkdir(exist_ok=True)
            made.append(parent) if not any(parent.iterdir()) else None
            _write(v2 / "cgroup.subtree_control", "+memory +pids")
            _write(parent / "cgroup.subtree_control", "+memory +pids")
            d = parent / job_id
            d.mkdir()
            made.append(d)
            _write(d / "memory.max", str(memory_mb * 1024 * 1024))
            if (d / "memory.swap.max").exists():
                _write(d / "memory.swap.max", "0")
            _write(d / "pids.max", str(max_pids))
            return JobCgroup([d], 2)
        own = _own_paths()
        roots = [V1 / "memory" / own.get("memory", ""), V1 / "pids" / own.get("pids", "")]
        if not all(os.access(r, os.W_OK) for r in roots):
            return None
        dirs = []
        for root in roots:
            (root / PARENT).mkdir(exist_ok=True)
            d = root / PARENT / job_id
            d.mkdir()
            made.append(d)
            dirs.append(d)
        _write(dirs[0] / "memory.limit_in_bytes", str(memory_mb * 1024 * 1024))
        if (dirs[0] / "memory.memsw.limit_in_bytes").exists():
            _write(dirs[0] / "memory.memsw.limit_in_bytes", str(memory_mb * 1024 * 1024))
        _write(dirs[1] / "pids.max", str(max_pids))
        return JobCgroup(dirs, 1)
    except OSError:
        for d in reversed(made):
            try:
                d.rmdir()
            except OSError:
                pass
        return None


@contextmanager
def job_cgroup(job_id: str, memory_mb: int, max_pids: int) -> Iterator[JobCgroup | None]:
    """A job's cgroup for the duration of a ``with`` block (None where the host allows none); on the way out
    whatever is left in it is killed and the cgroup removed, whatever happened inside."""
    group = create(job_id, memory_mb, max_pids)
    try:
        yield group
    finally:
        if group is not None:
            group.kill_all()
            group.remove()


def launcher(group: JobCgroup, argv: list[str]) -> list[str]:
    """``argv`` prefixed by a shell that joins the job's cgroups and then execs it: every process the job
    starts is inside from the first instruction. It runs as root (joining needs write access up to the
    common ancestor on cgroup v2); ``argv`` drops privileges itself (setpriv)."""
    script = (
        'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 97; shift; n=$((n-1)); done; exec "$@"'
    )
    files = [str(f) for f in group.procs_files]
    return ["/bin/sh", "-c", script, "mdbot-launch", str(len(files)), *files, *argv]
