"""Per-job control groups: a memory total and a process cap for the whole job, not per process.

Resource limits (rlimits) bound each process; a job of many processes could still take all memory, and a
per-uid process limit is shared by every job running as that uid (one job's fork storm stops the others
from starting). A cgroup per job fixes both. It needs a writable cgroup hierarchy — cgroup v1 ``memory``
and ``pids`` controllers, or cgroup v2 with both enabled — which root has on most hosts; elsewhere the
rlimits are what there is, and :func:`create` returns None.
"""

from __future__ import annotations

import os
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

    def kill_all(self, wait_s: float = 5.0) -> None:
        """SIGKILL every process still in the job's cgroup and wait until it is empty."""
        import signal
        import time

        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            pids: set[int] = set()
            for f in self.procs_files:
                try:
                    pids |= {int(p) for p in f.read_text().split()}
                except (OSError, ValueError):
                    continue
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


def _v2_root() -> Path | None:
    root = V1 if (V1 / "cgroup.controllers").exists() else None
    if root is None:
        return None
    controllers = (root / "cgroup.controllers").read_text().split()
    return root if {"memory", "pids"} <= set(controllers) else None


def create(job_id: str, memory_mb: int, max_pids: int, owner_uid: int | None) -> JobCgroup | None:
    """A cgroup for one job, or None when this host does not let us make one."""
    if os.geteuid() != 0:
        return None
    made: list[Path] = []
    try:
        v2 = _v2_root()
        if v2 is not None:
            parent = v2 / PARENT
            parent.mkdir(exist_ok=True)
            _write(v2 / "cgroup.subtree_control", "+memory +pids")
            _write(parent / "cgroup.subtree_control", "+memory +pids")
            d = parent / job_id
            d.mkdir()
            made.append(d)
            _write(d / "memory.max", str(memory_mb * 1024 * 1024))
            _write(d / "memory.swap.max", "0") if (d / "memory.swap.max").exists() else None
            _write(d / "pids.max", str(max_pids))
            group = JobCgroup([d], 2)
        else:
            mem, pids = V1 / "memory", V1 / "pids"
            if not (os.access(mem, os.W_OK) and os.access(pids, os.W_OK)):
                return None
            dirs = []
            for root in (mem, pids):
                (root / PARENT).mkdir(exist_ok=True)
                d = root / PARENT / job_id
                d.mkdir()
                made.append(d)
                dirs.append(d)
            _write(dirs[0] / "memory.limit_in_bytes", str(memory_mb * 1024 * 1024))
            if (dirs[0] / "memory.memsw.limit_in_bytes").exists():
                _write(dirs[0] / "memory.memsw.limit_in_bytes", str(memory_mb * 1024 * 1024))
            _write(dirs[1] / "pids.max", str(max_pids))
            group = JobCgroup(dirs, 1)
        if owner_uid is not None:  # the launcher moves itself in after dropping to the sandbox uid
            for f in group.procs_files:
                os.chown(f, owner_uid, -1)
        return group
    except OSError:
        for d in made:
            try:
                d.rmdir()
            except OSError:
                pass
        return None


def launcher(group: JobCgroup, argv: list[str]) -> list[str]:
    """``argv`` prefixed by a shell that joins the job's cgroups and then execs it: every process the job
    starts is inside from the first instruction."""
    script = (
        'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 97; shift; n=$((n-1)); done; exec "$@"'
    )
    files = [str(f) for f in group.procs_files]
    return ["/bin/sh", "-c", script, "mdbot-launch", str(len(files)), *files, *argv]
