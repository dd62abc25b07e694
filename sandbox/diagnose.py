"""Turning a LAMMPS error into something a user can act on: the offending command, its line, a hint.

LAMMPS reports the failing input line after variable substitution and without a line number, so we map
it back onto the user's script (exact text first, then with variables as wildcards, then by similarity).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from .install import Capabilities
from .logparse import LogError
from .potentials import PotentialLibrary, pair_coeff_elements
from .script import INPUT_COMMANDS, Command


@dataclass
class Diagnosis:
    message: str
    command: str | None
    line: int | None
    file: str | None
    hint: str | None


def _norm(text: str) -> str:
    return " ".join(text.split())


_VARREF = re.compile(r"\$\{[^}]{0,100}\}|\$\([^)]{0,200}\)|\$[A-Za-z]|v_\w{1,100}")
MAX_COMPARE = 2000  # characters of a command compared; script lines and log lines are job-controlled


def glob_match(template: str, text: str) -> bool:
    """Whether ``text`` is ``template`` with each variable reference replaced by some non-empty text.

    Linear-time glob matching (no regular expression: a crafted line with many references would make a
    backtracking ``.+?`` pattern take days).
    """
    literals = _VARREF.split(template)
    if len(literals) == 1:
        return template == text
    first, last = literals[0], literals[-1]
    if not text.startswith(first) or not text.endswith(last) or len(first) + len(last) > len(text):
        return False
    pos, end = len(first), len(text) - len(last)
    for lit in literals[1:-1]:
        found = text.find(lit, pos + 1, end) if lit else pos + 1  # each reference stands for >= 1 char
        if found < 0 or found > end:
            return False
        pos = found + len(lit)
    return pos < end  # the last reference also needs at least one character


def locate(command_text: str, sources: list[tuple[str, list[Command]]]) -> tuple[str, int, str] | None:
    """Find ``command_text`` in the scripts: (script text of the command, line, file name)."""
    target = _norm(command_text[:MAX_COMPARE])
    first = target.split()[0] if target else ""
    for how in ("exact", "wildcard", "similar"):
        best: tuple[float, tuple[str, int, str]] | None = None
        for fname, cmds in sources:
            for cmd in cmds:
                text = _norm(cmd.text[:MAX_COMPARE])
                if how == "exact" and text == target:
                    return cmd.text, cmd.line, fname
                if how == "wildcard" and ("$" in text or "v_" in text) and glob_match(text, target):
                    return cmd.text, cmd.line, fname
                if how == "similar" and cmd.name == first:
                    ratio = difflib.SequenceMatcher(None, text[:300], target[:300]).ratio()
                    if ratio > 0.6 and (best is None or ratio > best[0]):
                        best = (ratio, (cmd.text, cmd.line, fname))
        if best:
            return best[1]
    return None


def _failing_input(err: LogError, known: set[str]) -> str | None:
    """The input line LAMMPS was executing: its own report, else the last echoed command before the error."""
    if err.last_input:
        return err.last_input
    for line in reversed(err.context):
        words = line.split()
        if words and words[0] in known:
            return line.strip()
    return None


def _close(word: str, names: list[str]) -> list[str]:
    return difflib.get_close_matches(word, names, n=3, cutoff=0.6)


def _either(names: list[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def hint_for(
    message: str,
    command: str | None,
    caps: Capabilities | None,
    library: PotentialLibrary | None,
    job_files: list[str],
) -> str | None:
    """A short, specific suggestion for the common LAMMPS errors."""
    msg = message
    all_commands = sorted(INPUT_COMMANDS | set(caps.styles.get("command", []) if caps else []))
    m = re.search(r"Unknown command: (\S+)", msg)
    if m:
        near = _close(m.group(1), all_commands)
        return (f"Did you mean {_either(near)}? " if near else "") + (
            f"'{m.group(1)}' is not a command of this LAMMPS build (see docs.lammps.org/Commands_all.html)."
        )
    m = re.search(r"Unrecognized (\w+) style '([^']+)'", msg) or re.search(
        r"Unknown (\w+) style:? '?([^' ]+)'?", msg
    )
    if m:
        category, style = m.group(1).lower(), m.group(2)
        near = _close(style, caps.styles.get(category, [])) if caps else []
        if near:
            return f"Did you mean {category} style {_either(near)}?"
        return (
            f"'{style}' is not a {category} style in this LAMMPS build (its package may not be installed); "
            f"see the list with 'lmp -h' or docs.lammps.org/Commands_{category}.html."
        )
    if "All pair coeffs are not set" in msg:
        return "Every pair of atom types needs coefficients: add pair_coeff lines (e.g. 'pair_coeff * * …')."
    if "masses are set" in msg or "Not all per-type masses" in msg:
        return (
            "Give every atom type a mass ('mass 1 1.0'), or read masses from the data file's Masses section."
        )
    m = re.search(r"(?:cannot open|Cannot open)[^:]*?(?:file)?\s+([^\s:]+)\s*:", msg)
    if m:
        name = Path(m.group(1)).name
        is_potential = "potential" in msg.lower() or (command or "").startswith(("pair_coeff", "pair_style"))
        if is_potential and library:
            elements: list[str] = []
            if command:
                elements = pair_coeff_elements(Command(0, command, command.split()), m.group(1))
            near = library.suggest(name, elements)
            if near:
                for_el = f" for {'-'.join(elements)}" if elements else ""
                return f"Potential file '{name}' was not found. Closest available{for_el}: {', '.join(near)}."
        near = _close(name, job_files)
        attach = "Attach the file to the request (or correct its name)"
        return (
            f"{attach}; did you mean '{near[0]}'?"
            if near
            else f"{attach}; files in the job: {', '.join(job_files) or 'none'}."
        )
    if "Lost atoms" in msg:
        return (
            "Atoms moved too far in one step: reduce the timestep, remove overlaps (minimize first), check units "
            "and potential parameters; use 'thermo_modify lost warn' only if atoms may leave a non-periodic box."
        )
    m = re.search(r"Numeric index (\d+) is out of bounds \((\d+)-(\d+)\)", msg)
    if m or "Invalid atom type" in msg:
        hi = m.group(3) if m else "N"
        return f"The box has atom types 1–{hi} (create_box or the data file's header); use only those types."
    if re.search(r"Failed to (re)?allocate", msg):
        return "The system needs more memory than the sandbox allows (MDBOT_MEMORY_MB): use fewer atoms."
    if "Out of range atoms" in msg:
        return "Atoms flew out of range: the timestep is too large or atoms overlap; minimize first."
    if "before simulation box is defined" in msg:
        return "Define the box first (region + create_box, or read_data), then use this command."
    if "after simulation box is defined" in msg:
        return "Move this command before create_box/read_data; it must come before the box exists."
    if re.search(r"Variable name .* does not exist|Invalid variable name", msg):
        return "Define the variable with 'variable NAME …' before it is used, and check its spelling."
    if re.search(r"Incorrect args|Illegal \S+ command|Expected (integer|floating point)", msg):
        return "Check the number and order of arguments against the Syntax section of this command's manual page."
    if "Bond atoms missing" in msg or "Angle atoms missing" in msg:
        return (
            "Bonded atoms drifted too far apart: smaller timestep, larger comm cutoff, or check the topology."
        )
    return None


def diagnose(
    err: LogError,
    sources: list[tuple[str, list[Command]]],
    caps: Capabilities | None,
    library: PotentialLibrary | None,
    job_files: list[str],
) -> Diagnosis:
    known = set(INPUT_COMMANDS) | set(caps.styles.get("command", []) if caps else [])
    known |= {cmd.name for _, cmds in sources for cmd in cmds}
    failing = _failing_input(err, known)
    where = locate(failing, sources) if failing else None
    command = where[0] if where else failing
    hint = hint_for(err.message, command, caps, library, job_files)
    if err.more_info and hint is None:
        hint = f"See {err.more_info}"
    elif err.more_info:
        hint = f"{hint} More: {err.more_info}"
    return Diagnosis(err.message, command, where[1] if where else None, where[2] if where else None, hint)
