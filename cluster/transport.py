"""Running a command on the submit host and moving job directories there: this host, or a login node over SSH.

Over SSH every call reuses one connection (OpenSSH's ControlMaster with ControlPersist), so a site with
multi-factor login authenticates once, and a poll costs a round trip, not a handshake. Job directories
travel as tar streams through the same connection. Nothing here knows about Slurm.
"""

from __future__ import annotations

import abc
import logging
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .settings import ClusterSettings

log = logging.getLogger(__name__)


class TransportError(RuntimeError):
    """The submit host could not be reached (SSH failed, a command timed out, an executable is missing)."""


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


class Transport(abc.ABC):
    """Commands on the submit host. ``remote`` paths are as the submit host sees them."""

    shared_fs = True  # the job directory on the submit host is the one mdbot reads

    def __init__(self, settings: ClusterSettings):
        self.settings = settings

    @abc.abstractmethod
    def run(self, argv: list[str], *, stdin: bytes | None = None, timeout: float | None = None) -> Completed:
        """Run ``argv`` on the submit host (a scheduler command or a shell utility) and return what it did."""

    @abc.abstractmethod
    def put(self, local: Path, remote: str) -> None:
        """Copy the files of ``local`` into the (new) directory ``remote``."""

    @abc.abstractmethod
    def get(self, remote: str, local: Path) -> None:
        """Copy the directory ``remote`` into ``local`` (only needed where ``shared_fs`` is False)."""

    @abc.abstractmethod
    def read_tail(self, path: str, nbytes: int) -> str:
        """The last ``nbytes`` of a file on the submit host ('' when it does not exist yet)."""

    @abc.abstractmethod
    def free_mb(self, path: str) -> int | None:
        """Free space of the file system holding ``path`` (its nearest existing parent), None if unknown."""

    def close(self) -> None:  # noqa: B027 - optional: only a transport holding a connection has one to close
        """Release what the transport holds (the SSH control connection); nothing by default."""


class LocalTransport(Transport):
    """Slurm's commands on this host (mdbot runs on the login node)."""

    def run(self, argv, *, stdin=None, timeout=None):
        try:
            done = subprocess.run(
                argv,
                input=stdin,
                capture_output=True,
                timeout=timeout or self.settings.command_timeout_s,
                check=False,
            )
        except FileNotFoundError as exc:
            raise TransportError(f"{argv[0]} is not installed on this host") from exc
        except subprocess.TimeoutExpired as exc:
            raise TransportError(f"{Path(argv[0]).name} did not answer within {exc.timeout:g} s") from exc
        return Completed(
            done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
        )

    def put(self, local, remote):
        shutil.copytree(local, remote, symlinks=True)

    def get(self, remote, local):
        if Path(remote).resolve() != Path(local).resolve():
            shutil.copytree(remote, local, symlinks=True, dirs_exist_ok=True)

    def read_tail(self, path, nbytes):
        try:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                fh.seek(max(0, size - nbytes))
                return fh.read().decode(errors="replace")
        except OSError:
            return ""

    def free_mb(self, path):
        p = Path(path)
        while not p.exists() and p != p.parent:
            p = p.parent
        try:
            return shutil.disk_usage(p).free // (1024 * 1024)
        except OSError:
            return None


class SSHTransport(Transport):
    """Slurm's commands on a login node, through one shared SSH connection."""

    shared_fs = False

    def __init__(self, settings: ClusterSettings, control_dir: Path):
        super().__init__(settings)
        control_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.control_path = control_dir / "%C"  # a hash of host, port and user: short enough for a socket

    def _ssh(self) -> list[str]:
        s = self.settings
        argv = ["ssh", "-p", str(s.ssh_port), "-o", "BatchMode=yes", "-o", "ConnectTimeout=20"]
        argv += ["-o", "ControlMaster=auto", "-o", f"ControlPath={self.control_path}"]
        argv += ["-o", f"ControlPersist={s.ssh_control_persist_s}", "-o", "StrictHostKeyChecking=accept-new"]
        if s.ssh_key:
            argv += ["-i", str(s.ssh_key), "-o", "IdentitiesOnly=yes"]
        for opt in s.ssh_options:
            argv += ["-o", opt]
        return [*argv, s.ssh_host]

    def _shell(self, command: str, stdin: bytes | None = None, timeout: float | None = None) -> Completed:
        argv = [*self._ssh(), "--", command]
        try:
            done = subprocess.run(
                argv,
                input=stdin,
                capture_output=True,
                timeout=timeout or self.settings.command_timeout_s,
                check=False,
                stdin=None if stdin is not None else subprocess.DEVNULL,
            )
        except FileNotFoundError as exc:
            raise TransportError("ssh is not installed on this host") from exc
        except subprocess.TimeoutExpired as exc:
            raise TransportError(
                f"ssh to {self.settings.ssh_host} did not answer within {exc.timeout:g} s"
            ) from exc
        out = Completed(
            done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
        )
        if out.returncode == 255:  # ssh's own failure: the remote command never ran
            why = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "no message"
            raise TransportError(f"ssh to {self.settings.ssh_host} failed: {why}")
        return out

    def run(self, argv, *, stdin=None, timeout=None):
        return self._shell(shlex.join(argv), stdin, timeout)

    def put(self, local, remote):
        import io
        import tarfile

        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for f in sorted(Path(local).iterdir()):
                tar.add(f, arcname=f.name)
        q = shlex.quote(remote)
        done = self._shell(f"mkdir -p {q} && tar -C {q} -xf -", stdin=buf.getvalue())
        if done.returncode != 0:
            raise TransportError(f"could not copy the job to {remote}: {done.stderr.strip()[:300]}")

    def get(self, remote, local):
        import io
        import tarfile

        done = subprocess.run(
            [*self._ssh(), "--", f"tar -C {shlex.quote(remote)} -cf - ."],
            capture_output=True,
            timeout=self.settings.command_timeout_s * 5,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise TransportError(
                f"could not fetch {remote}: {done.stderr.decode(errors='replace').strip()[:300]}"
            )
        Path(local).mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(done.stdout), mode="r") as tar:
            tar.extractall(local, filter="data")  # no links out, no absolute names, no devices

    def read_tail(self, path, nbytes):
        q = shlex.quote(path)
        done = self._shell(f"test -f {q} && tail -c {int(nbytes)} {q} || true")
        return done.stdout

    def free_mb(self, path):
        q = shlex.quote(path)
        done = self._shell(f'p={q}; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; df -Pk "$p" | tail -1')
        try:
            return int(done.stdout.split()[3]) // 1024
        except (IndexError, ValueError):
            return None

    def close(self) -> None:
        try:
            subprocess.run(
                [*self._ssh()[:-1], "-O", "exit", self.settings.ssh_host],
                capture_output=True,
                timeout=10,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired):
            pass


def transport_for(settings: ClusterSettings, data_dir: Path) -> Transport:
    if settings.mode == "ssh":
        control = (data_dir / "ssh").resolve()
        if len(str(control)) > 60:  # a socket path must stay under 108 bytes, with the 40 of %C
            import hashlib
            import tempfile

            digest = hashlib.sha1(str(control).encode()).hexdigest()[:10]
            control = Path(tempfile.gettempdir()) / f"mdbot-ssh-{digest}"
        return SSHTransport(settings, control)
    return LocalTransport(settings)
