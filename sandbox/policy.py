"""Static policy: early, friendly refusals of commands a chat-submitted script must not use.

This is *not* the security boundary. LAMMPS substitutes variables before it parses a line, so
``${a}${b}`` can become ``shell`` at run time; bubblewrap and the resource limits contain what gets past
this check. The policy exists so a user hears "shell is not allowed (line 7)" instead of a sandbox error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .script import Command, commands

# command -> reason shown to the user
FORBIDDEN_COMMANDS: dict[str, str] = {
    "shell": "runs operating-system commands",
    "python": "runs arbitrary Python code",
    "plugin": "loads arbitrary compiled code",
    "geturl": "downloads from the network, which the sandbox does not have",
}
# (command, style word) pairs that run external programs or code.
FORBIDDEN_STYLES: dict[tuple[str, str], str] = {
    ("dump", "movie"): "starts an external encoder (ffmpeg); use 'dump image' instead",
    ("fix", "python/invoke"): "runs arbitrary Python code",
    ("fix", "python/move"): "runs arbitrary Python code",
    ("pair_style", "python"): "runs arbitrary Python code",
}
_STYLE_POSITION = {"dump": 3, "fix": 3, "pair_style": 1}  # dump/fix ID group style

_PARENT = re.compile(r"(^|/)\.\.(/|$)")


@dataclass(frozen=True)
class Violation:
    line: int
    command: str
    message: str


def _path_problem(word: str) -> str | None:
    """Why a word that may be a file name points outside the job directory, if it does."""
    if not word or any(c.isspace() for c in word):
        return None  # quoted text with spaces is never a file name
    if word.startswith("/") and len(word) > 1:
        return f"absolute path '{word}' is outside the job directory; attach the file and use its name"
    if word.startswith("~"):
        return f"home-directory path '{word}' is outside the job directory"
    if _PARENT.search(word):
        return f"path '{word}' leaves the job directory ('..')"
    return None


def check_command(cmd: Command) -> list[Violation]:
    """Violations of one logical line."""
    found: list[Violation] = []
    name = cmd.name
    if name in FORBIDDEN_COMMANDS:
        found.append(Violation(cmd.line, cmd.text, f"'{name}' is not allowed: it {FORBIDDEN_COMMANDS[name]}"))
        return found
    pos = _STYLE_POSITION.get(name)
    if pos is not None and len(cmd.words) > pos:
        style = cmd.words[pos]
        reason = FORBIDDEN_STYLES.get((name, style))
        if reason:
            found.append(Violation(cmd.line, cmd.text, f"'{name} {style}' is not allowed: it {reason}"))
    if name == "variable" and len(cmd.words) > 2 and cmd.words[2] == "python":
        found.append(Violation(cmd.line, cmd.text, "'variable … python' is not allowed: it runs Python code"))
    for word in cmd.words[1:]:
        problem = _path_problem(word)
        if problem:
            found.append(Violation(cmd.line, cmd.text, problem))
            break
    return found


def check_script(script: str) -> list[Violation]:
    """All violations in a script, in line order."""
    out: list[Violation] = []
    for cmd in commands(script):
        out.extend(check_command(cmd))
    return out
