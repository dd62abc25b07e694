"""Who the job runs as: when mdbot is root, an unprivileged uid that must be able to reach its mounts.

The kernel does not enforce the process limit for a user namespace whose uid maps to real root, so a root
mdbot starts bubblewrap as the sandbox uid (``setpriv``), gives it the job's directories for the run
(``chown``), lets it search private parents of its bind sources (an ACL), and takes the tree back after,
clearing setuid/setgid/sticky and world-write bits the job may have set.
"""

from __future__ import annotations

import os
import shutil
import stat
import struct
import subprocess
import sys
from pathlib import Path

from .errors import SandboxUnavailable

_ACL_USER, _ACL_MASK = 0x02, 0x10


def _acl_grants_search(path: Path, uid: int) -> bool:
    """Whether the POSIX ACL of ``path`` lets ``uid`` search it (named-user entry and mask both allow x).

    Read from the ``system.posix_acl_access`` attribute (version 2: 4-byte header, then 8-byte entries of tag,
    permissions and id), so checking costs no subprocess per job.
    """
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


def chown_tree(root: Path, uid: int, gid: int, sanitize: bool = False) -> None:
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


def drop_to(uid: int) -> list[str]:
    """The command prefix that runs the rest as ``uid`` with no supplementary groups."""
    setpriv = shutil.which("setpriv")
    if not setpriv:
        raise SandboxUnavailable("'setpriv' (util-linux) is required to drop root privileges")
    return [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]


def hand_over(dirs: tuple[Path, ...], uid: int) -> None:
    """Give the job's directories to the sandbox uid before the run."""
    for d in dirs:
        chown_tree(d, uid, uid)


def take_back(workdir: Path) -> None:
    """Give the job directory back to root after the run, without the bits a job could use against us."""
    chown_tree(workdir, 0, 0, sanitize=True)
