"""Running a command contained: bubblewrap namespaces, resource limits, a watchdog, and capped output.

Layers, from outside in:
  * ``prlimit`` sets CPU seconds, address space, file size and process count before anything runs
    (:mod:`.watchdog`);
  * when mdbot itself runs as root, bubblewrap is started as an unprivileged uid, because the kernel does
    not enforce the process limit for a namespace whose uid maps to real root (:mod:`.privileges`);
  * bubblewrap: no network, new PID/IPC/UTS/user namespaces, read-only system, only the job directory
    writable, private /tmp and /dev/shm inside the job's scratch area, scrubbed environment, dies with us
    (:mod:`.bwrap`, the options as typed values);
  * a watchdog kills the whole process group on wall-clock timeout, on too much output, or too many files,
    and a free-disk reserve stops a job whose space cannot be seen by name (:mod:`.watchdog`);
  * a cgroup per job, where the host allows one (root), caps the job's total memory and process count.

:func:`execute` (:mod:`.execute`) puts them together for one command.
"""

from __future__ import annotations

from .bwrap import (
    JOB,
    LMP,
    MPI_BIN,
    MPI_LIB,
    POTENTIALS,
    SITE,
    Mounts,
    bwrap_available,
    bwrap_command,
    sandbox_env,
)
from .errors import SandboxUnavailable
from .execute import Execution, execute
from .privileges import ensure_reachable
from .watchdog import Limits

__all__ = [
    "JOB",
    "LMP",
    "MPI_BIN",
    "MPI_LIB",
    "POTENTIALS",
    "SITE",
    "Execution",
    "Limits",
    "Mounts",
    "SandboxUnavailable",
    "bwrap_available",
    "bwrap_command",
    "ensure_reachable",
    "execute",
    "sandbox_env",
]
