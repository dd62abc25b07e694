"""The one shell command mdbot does itself: ``shell mkdir DIR…`` with plain names inside the job directory.

Real scripts often start with ``shell mkdir out`` before dumping into ``out/``. ``shell`` stays refused
(the policy), but this harmless form is done by mdbot before the run: the directories are created in the
job directory, the line becomes a comment (line numbers keep matching) and the result says what was done.
Anything else — another shell command, an absolute path, ``..``, a variable, quotes, a continued line — is
left in the script for the policy to refuse as before.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .script import Command, commands, strip_comment

_COMPONENT = r"[A-Za-z0-9_][A-Za-z0-9_.+\-]{0,127}"  # never '.', '..' or a hidden name
_DIR = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT}){{0,15}}$")
MAX_DIRS = 32


@dataclass(frozen=True)
class Mkdir:
    line: int
    text: str  # the command as written
    dirs: tuple[str, ...]

    @property
    def note(self) -> str:
        names = ", ".join(f"'{d}'" for d in self.dirs)
        what = "the directory" if len(self.dirs) == 1 else "the directories"
        return (
            f"line {self.line}: mdbot created {what} {names} in the job directory before the run, "
            f"in place of '{self.text}' (the sandbox runs no shell commands)"
        )


def harmless(cmd: Command, raw_line: str) -> Mkdir | None:
    """The directories of a plain ``shell mkdir [-p] DIR…`` on one physical line, else None."""
    words = cmd.words
    if len(words) < 3 or words[:2] != ["shell", "mkdir"] or cmd.text.split() != words:
        return None  # not mkdir, or quotes were involved
    if strip_comment(raw_line).strip() != cmd.text:
        return None  # continued over several lines
    dirs = [w.rstrip("/") for w in words[2:] if w != "-p"]
    if not dirs or len(dirs) > MAX_DIRS or not all(_DIR.match(w) for w in dirs):
        return None
    return Mkdir(cmd.line, cmd.text, tuple(dict.fromkeys(dirs)))


def plan(text: str) -> tuple[str, list[Mkdir]]:
    """The script with each harmless ``shell mkdir`` line replaced by a comment, and those lines."""
    lines = text.splitlines(keepends=True)
    found = []
    for cmd in commands(text):
        if cmd.name != "shell":
            continue
        m = harmless(cmd, lines[cmd.line - 1])
        if m is not None:
            found.append(m)
            end = "\n" if lines[cmd.line - 1].endswith("\n") else ""
            lines[cmd.line - 1] = f"# {cmd.text}  (done by mdbot before the run){end}"
    return "".join(lines), found


def create(workdir: Path, dirs: tuple[str, ...]) -> bool:
    """Create ``dirs`` (with parents) below ``workdir``; False when one is in the way as a link or file.

    Run before the job starts, so the job directory holds only what mdbot staged; every component is still
    made with ``mkdir`` and checked with ``lstat``, never following a link.
    """
    for d in dirs:
        path = workdir
        for part in d.split("/"):
            path = path / part
            try:
                os.mkdir(path, 0o755)
            except FileExistsError:
                if not path.is_dir() or path.is_symlink():
                    return False
            except OSError:
                return False
    return True
