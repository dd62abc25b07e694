"""Touching a job directory after the job ran, without trusting what the job left there.

Inside the sandbox a job can create symlinks (``log.lammps -> /srv/mdbot/.env``); the path means nothing
there, but on the host it points at a real file. Everything mdbot reads, writes or lists in a job
directory after a run therefore goes through these helpers: regular files only, never following links.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def open_regular(path: Path, mode: str = "rb"):
    """Open an existing regular file for reading; raise OSError for links, FIFOs, devices, directories."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path.name} is not a regular file")
        return os.fdopen(fd, mode)
    except BaseException:
        os.close(fd)
        raise


def read_text(path: Path, limit: int = 5_000_000) -> str | None:
    """A regular file's text (at most ``limit`` bytes), or None."""
    try:
        with open_regular(path) as fh:
            return fh.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return None


def create(path: Path, mode: str = "wb"):
    """A fresh file at ``path``: whatever the job left under that name (a symlink, say) is removed first."""
    try:
        if path.is_symlink() or path.exists():
            if path.is_dir() and not path.is_symlink():
                raise OSError(f"{path.name} is a directory")
            path.unlink()
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    return os.fdopen(fd, mode)


def write_text(path: Path, text: str) -> None:
    with create(path, "w") as fh:
        fh.write(text)


def regular_files(directory: Path) -> list[tuple[str, int]]:
    """(name, size) of the visible regular files directly in ``directory``; links and others are skipped."""
    out = []
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            out.append((entry.name, st.st_size))
    return out


def clear_reserved(directory: Path, names: set[str], prefix_suffix: tuple[str, str] | None = None) -> None:
    """Move anything that is not a regular file out of the names mdbot itself writes and reads.

    A job can leave a directory, FIFO or link named ``log.lammps`` or ``thermo.png``; renaming it to a hidden
    name (never deleting: a deep tree would take long, and it is the job's own output) frees the name.
    """
    import secrets

    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        reserved = entry.name in names or (
            prefix_suffix is not None
            and entry.name.startswith(prefix_suffix[0])
            and entry.name.endswith(prefix_suffix[1])
        )
        if not reserved:
            continue
        try:
            if not stat.S_ISREG(entry.stat(follow_symlinks=False).st_mode):
                os.rename(entry.path, os.path.join(directory, f".mdbot-moved-{secrets.token_hex(4)}"))
        except OSError:
            continue
