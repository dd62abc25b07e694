"""Deterministic reading of a message: is there a script, an error, a request for help?

These rules run before any model: an attached ``in.*`` file or a code block of LAMMPS commands is a run, a
pasted ``ERROR:`` or ``WARNING:`` line (alone, in a log, or inside a sentence) is an explanation. They are cheap, never wrong in the cases they claim, and they are
what the offline mode has.
"""

from __future__ import annotations

import re
from pathlib import Path

from mdbot.sandbox.script import INPUT_COMMANDS
from mdbot.structures.read import detect_format, is_structure_name

# Commands that are "command styles" in `lmp -h` and so absent from the input-parser list.
_COMMON = frozenset(
    "run minimize rerun create_atoms create_box read_data read_restart read_dump velocity write_data "
    "write_restart write_dump displace_atoms delete_atoms delete_bonds replicate set change_box "
    "create_bonds displace_box reset_atoms info".split()
)
KNOWN_COMMANDS = INPUT_COMMANDS | _COMMON
SCRIPT_NAME = re.compile(r"^(in\..+|.+\.(in|lmp|lammps|inp))$", re.I)
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[ \t]*\n?(.*?)```", re.S)
# A LAMMPS ERROR or WARNING line anywhere: at a line's start, after "I got:", inside a sentence.
_ERROR = re.compile(r"\b(?:ERROR|WARNING)(?: on proc \d+)?:\s*\S")
_ABOUT_STRUCTURE = re.compile(
    r"\b(describe|what is (this|it|in it)|structure|formula|density|pores?|space ?group|cell)\b", re.I
)
_SMILES_BUILD = re.compile(r"\bsmiles\b[\s:=]*`?[^\s`]+", re.I)
_HELP = re.compile(r"^\s*(help|usage|\?|what can you do\??|how do i use (you|this( bot)?)\??)\s*$", re.I)
_WRITE = re.compile(
    r"\b(write|generate|create|make|build|set ?up|prepare|give me|draft|simulate|model)\b.{0,80}?"
    r"\b(script|input|simulation|run|md|system|box|melt|liquid|crystal|solid|water)\b",
    re.I | re.S,
)
_QUESTION = re.compile(r"^\s*(how|what|which|why|when|where|is|are|can|could|should|does|do)\b", re.I)
_CHANGE = re.compile(
    r"^\s*(now|also|then|and|please|ok|okay)?[\s,]*(make|change|set|use|increase|decrease|raise|lower|add|"
    r"remove|switch|replace|double|halve|run|extend|turn)\b",
    re.I,
)


def looks_like_lammps(text: str, extra_commands: frozenset[str] | set[str] = frozenset()) -> bool:
    """Most non-comment lines start with a LAMMPS command (at least two such lines)."""
    known = KNOWN_COMMANDS | set(extra_commands)
    lines = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("&")]
    if len(lines) < 2:
        return False
    hits = sum(1 for ln in lines if ln.split()[0].lower() in known)
    return hits >= 2 and hits >= 0.6 * len(lines)


def code_blocks(text: str) -> list[str]:
    return [body for _lang, body in _FENCE.findall(text)]


def _unfenced_script(text: str, known: frozenset[str] | set[str]) -> str:
    """Without fences: the lines from the first LAMMPS command to the last one; a sentence before the
    script on its first line ("please run this: units lj") is left out."""
    lines = text.splitlines()

    def is_command(line: str) -> bool:
        words = line.split("#", 1)[0].split()
        return bool(words) and words[0].lower() in known

    for i, line in enumerate(lines):
        m = re.match(r"^(.*?[:?!.])\s+(\S.*)$", line)
        if not is_command(line) and m and is_command(m.group(2)):
            lines[i] = m.group(2)
    hits = [i for i, line in enumerate(lines) if is_command(line)]
    return "\n".join(lines[hits[0] : hits[-1] + 1]) if hits else ""


def script_in_message(text: str, extra_commands=frozenset()) -> str | None:
    """The LAMMPS script pasted in a code block (or, without fences, the part of the message that is one)."""
    for body in code_blocks(text):
        if looks_like_lammps(body, extra_commands):
            return body.strip("\n") + "\n"
    if "```" not in text and len(text.splitlines()) >= 3:
        body = _unfenced_script(text, KNOWN_COMMANDS | set(extra_commands))
        if len(body.splitlines()) >= 3 and looks_like_lammps(body, extra_commands):
            return body.strip("\n") + "\n"
    return None


def attached_script(files: dict[str, str]) -> str | None:
    """Name of the attached input script, if one was attached (``in.*``, ``*.in``, ``*.lmp``)."""
    for name in files:
        if SCRIPT_NAME.match(Path(name).name):
            return name
    return None


def has_error(text: str) -> bool:
    return bool(_ERROR.search(text))


def _structure_to_read(name: str, text: str) -> bool:
    """A structure file the message is about. A LAMMPS data file is usually an input of a script (attached
    with a request to write or run one), so it is read as a structure only when the message asks about it."""
    if not is_structure_name(name):
        return False
    return detect_format(name)[0] != "lammps-data" or bool(_ABOUT_STRUCTURE.search(text))


def rule_intent(text: str, new_files: dict[str, str], extra_commands=frozenset()) -> tuple[str, str] | None:
    """(intent, reason) when a rule decides, else None."""
    if attached_script(new_files):
        return "run", f"an input script was attached ({attached_script(new_files)})"
    structure = next((n for n in new_files if _structure_to_read(Path(n).name, text)), None)
    if structure:
        return "structure", f"a structure file was attached ({structure})"
    if _SMILES_BUILD.search(text):
        return "structure", "a molecule given by SMILES, to simulate"
    if script_in_message(text, extra_commands):
        return "run", "the message contains a LAMMPS script"
    if has_error(text):
        return "explain", "the message contains a LAMMPS ERROR or WARNING line"
    if _HELP.match(text):
        return "help", "the message asks for help"
    return None


def guess_intent(text: str, has_script: bool) -> tuple[str, str]:
    """Without a model: a request to write or change a script is ``generate``, the rest ``qa``; a question
    ("How do I create an fcc crystal?") is ``qa`` even when it names something to build."""
    if _QUESTION.match(text) and text.rstrip().endswith("?"):
        return "qa", "a question (keyword rule)"
    if _WRITE.search(text):
        return "generate", "the message asks for a script or simulation (keyword rule)"
    if has_script and _CHANGE.match(text):
        return "generate", "the message asks to change the thread's script (keyword rule)"
    if has_script and not text.rstrip().endswith("?"):
        from .followup import requested

        if requested(text):
            return "generate", "the message names a new value for the thread's script (keyword rule)"
    return "qa", "a question (keyword rule)"


def extract_script(reply: str) -> str | None:
    """The LAMMPS script in a model's reply: the longest fenced block that looks like LAMMPS, or the reply
    itself when the model forgot the fences."""
    blocks = [b for b in code_blocks(reply) if looks_like_lammps(b)]
    if blocks:
        return max(blocks, key=len).strip("\n") + "\n"
    if looks_like_lammps(reply):
        return reply.strip("\n") + "\n"
    return None
