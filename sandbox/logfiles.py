"""Which log files a pass wrote: ``log.lammps``, then the files its ``log`` commands switched to.

``log log.${name}`` closes ``log.lammps`` and continues in a file whose name is only known at run time,
so an error printed after the switch is not in ``log.lammps`` at all. Each ``log`` command's file name
becomes a pattern (variable references match anything); the files in the job directory that match it and
were written during this pass are the rest of the log, in the order they were last written. Directories
are walked without following links and files are read through :mod:`.jobfiles`, so nothing outside the
job directory is ever read.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from pathlib import Path

from .logparse import read_log
from .script import Command

_VARREF = re.compile(r"\$\{[^}]{0,100}\}|\$\([^)]{0,200}\)|\$[A-Za-z0-9_]")
MAX_LOGS = 16  # switched-to log files read per pass
SWITCHED_KEEP = 1024 * 1024  # head and tail bytes kept of each switched-to log


def log_patterns(sources: list[tuple[str, list[Command]]]) -> list[str]:
    """fnmatch patterns for the files named by the scripts' ``log`` commands (``none`` stops logging)."""
    out = []
    for _name, cmds in sources:
        for cmd in cmds:
            if cmd.name != "log" or len(cmd.words) < 2 or cmd.words[1] == "none" or len(cmd.words[1]) > 255:
                continue
            literals = [re.sub(r"([*?\[])", r"[\1]", part) for part in _VARREF.split(cmd.words[1])]
            pattern = "*".join(literals)
            if pattern not in out:
                out.append(pattern)
    return out


def _matches(workdir: Path, pattern: str) -> list[tuple[int, Path]]:
    """(mtime, path) of the regular files below ``workdir`` matching a relative pattern; links never followed."""
    parts = [p for p in pattern.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return []
    level = [workdir]
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        found = []
        for directory in level:
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue
            for entry in entries:
                if not fnmatch.fnmatchcase(entry.name, part):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if last and stat.S_ISREG(st.st_mode):
                    found.append((st.st_mtime_ns, Path(entry.path)))
                elif not last and stat.S_ISDIR(st.st_mode):
                    found.append((0, Path(entry.path)))
        if last:
            return found
        level = [p for _, p in found][:64]
    return []


def switched_logs(workdir: Path, patterns: list[str], since_ns: int, main: str) -> list[Path]:
    """The files the ``log`` commands wrote since ``since_ns``, oldest first (``main`` excluded)."""
    seen: dict[Path, int] = {}
    for pattern in patterns:
        for mtime, path in _matches(workdir, pattern):
            if mtime >= since_ns and path != workdir / main:
                seen[path] = mtime
    return sorted(seen, key=seen.__getitem__)[-MAX_LOGS:]


def read_pass_log(
    workdir: Path, main: str, patterns: list[str], since_ns: int, keep: int | None = None
) -> str:
    """The whole log of one pass: ``main`` followed by the files the script switched to, oldest first."""
    text = read_log(workdir / main) if keep is None else read_log(workdir / main, keep=keep)
    for path in switched_logs(workdir, patterns, since_ns, main) if patterns else []:
        more = read_log(path, keep=min(keep or SWITCHED_KEEP, SWITCHED_KEEP))
        if more:
            text = f"{text}\n{more}" if text else more
    return text
