"""Repairs that need no model, and the loop guard.

A model call costs seconds and may not help; many failures have one obvious fix that the sandbox already
knows: a potential file named slightly wrong (the library has the right file for those elements), a missing
``mass`` (the elements are in ``pair_coeff``, or the units are LJ), a mistyped style with exactly one close
match among the installed styles. Those are applied first, and said to the user: all of them that a check reveals, one after the other
(``all_fixes`` checks the script again after each), before the next attempt is spent. Line numbers in what
is said are those of the user's own script (``line_map``), not of the edited one.

The guard: LAMMPS executes a script top to bottom, so a "repaired" script whose commands up to the failing
one are unchanged will fail the same way. Such a retry (and any script identical to one already tried, up to
comments, spacing and number formatting) is not run; the loop changes strategy instead.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from mdbot.sandbox.install import base_style
from mdbot.sandbox.potentials import PotentialLibrary, pair_coeff_elements
from mdbot.sandbox.script import Command, commands

from .state import Attempt, error_of

MAIN = "in.lammps"  # the name the sandbox stages a script given as text under


def _replace_line(script: str, line: int, new_text: str) -> str:
    lines = script.splitlines()
    lines[line - 1] = new_text
    return "\n".join(lines) + "\n"


def _same_file(error: dict, script_name: str | None) -> bool:
    """The error is in the main script (not in an included file we cannot edit here)."""
    f = error.get("file")
    return not f or script_name is None or Path(f).name == Path(script_name).name


def fix_potential(script: str, error: dict, library: PotentialLibrary) -> tuple[str, str] | None:
    m = re.search(r"cannot open .*?potential file (\S+?):", error.get("message", ""), re.I)
    line, command = error.get("line"), error.get("command") or ""
    if not m or not line or not command.startswith("pair_coeff"):
        return None
    wanted = m.group(1)
    name = Path(wanted).name
    elements = pair_coeff_elements(Command(line, command, command.split()), wanted)
    if not elements:
        return None
    suffix = name.split(".", 1)[1] if "." in name else ""
    candidates = [s for s in library.suggest(name, elements) if suffix and s.endswith("." + suffix)]
    if not candidates or library.find(candidates[0]) is None:
        return None
    original = script.splitlines()[line - 1]
    if wanted not in original:
        return None
    fixed = original.replace(wanted, candidates[0], 1)
    return _replace_line(script, line, fixed), (
        f"line {line}: potential file '{wanted}' does not exist; used '{candidates[0]}' "
        f"(the closest installed file for {'-'.join(elements)})"
    )


def _type_count(cmds: list[Command]) -> int | None:
    for c in cmds:
        if c.name == "create_box" and len(c.words) > 1 and c.words[1].isdigit():
            return int(c.words[1])
    return None


def fix_mass(script: str, error: dict) -> tuple[str, str] | None:
    msg = error.get("message", "")
    if not re.search(r"masses are set|per-type masses|Not all per-type masses", msg, re.I):
        return None
    from ase.data import atomic_masses, atomic_numbers

    cmds = commands(script)
    box = next((c for c in cmds if c.name in ("create_box", "read_data")), None)
    ntypes = _type_count(cmds)
    if box is None or ntypes is None:
        return None
    units = next((c.words[1] for c in cmds if c.name == "units" and len(c.words) > 1), "lj")
    elements: list[str] = []
    for c in cmds:
        if c.name == "pair_coeff" and c.words[1:3] == ["*", "*"]:
            tail = [w for w in c.words[4:] if w in atomic_numbers or w == "NULL"]
            if len(tail) == ntypes:
                elements = tail
    if elements and "NULL" not in elements and units in ("metal", "real"):
        lines = [f"mass {i} {atomic_masses[atomic_numbers[el]]:.4f}" for i, el in enumerate(elements, 1)]
        how = f"masses of {', '.join(elements)} from the pair_coeff elements"
    elif units == "lj":
        lines = ["mass * 1.0"]
        how = "mass 1.0 for every type (LJ units)"
    else:
        return None
    # Right after the box exists: before anything (velocity, run) that needs the masses.
    out = script.splitlines()
    end = box.line
    while end < len(out) and out[end - 1].rstrip().endswith("&"):
        end += 1  # after the whole continued line
    out[end:end] = lines
    return "\n".join(out) + "\n", f"added {'; '.join(lines)} after line {end} ({how})"


def _one_close_match(wrong: str, names: list[str]) -> str | None:
    """The single plausible correction: the only close name, or one clearly closer than the next
    (accelerator variants such as ``/omp`` are not candidates: LAMMPS applies them by suffix)."""
    plain = [n for n in names if base_style(n) == n]
    scored = sorted(((difflib.SequenceMatcher(None, wrong, n).ratio(), n) for n in plain), reverse=True)
    scored = [(r, n) for r, n in scored if r >= 0.75]
    if len(scored) == 1 or (len(scored) > 1 and scored[0][0] - scored[1][0] >= 0.1):
        return scored[0][1]
    return None


def fix_style(script: str, error: dict, styles: dict[str, list[str]] | None) -> tuple[str, str] | None:
    msg, line = error.get("message", ""), error.get("line")
    if not line or not styles:
        return None
    m = re.search(r"Unrecognized (\w+) style '([^']+)'", msg) or re.search(
        r"Unknown (\w+) style:? '?([^' ]+)'?", msg
    )
    if m:
        category, wrong = m.group(1).lower(), m.group(2)
        names = styles.get(category, [])
        what = f"{category} style"
    else:
        m = re.search(r"Unknown command: (\S+)", msg)
        if not m:
            return None
        from .intent import KNOWN_COMMANDS

        wrong = m.group(1)
        names = sorted(set(styles.get("command", [])) | KNOWN_COMMANDS)
        what = "command"
    near = _one_close_match(wrong, names)
    if near is None:
        return None
    near = [near]
    original = script.splitlines()[line - 1]
    fixed, count = re.subn(rf"(?<![\w/]){re.escape(wrong)}(?![\w/])", near[0], original, count=1)
    if not count:
        return None
    return _replace_line(
        script, line, fixed
    ), f"line {line}: {what} '{wrong}' does not exist; used '{near[0]}'"


def deterministic(
    script: str,
    error: dict | None,
    library: PotentialLibrary | None,
    styles: dict[str, list[str]] | None,
    script_name: str | None = MAIN,
) -> tuple[str, str, str] | None:
    """(new script, kind, what changed) when one of the known fixes applies."""
    if not error or not _same_file(error, script_name):
        return None
    attempts = [
        ("mass", lambda: fix_mass(script, error)),
        ("style", lambda: fix_style(script, error, styles)),
    ]
    if library is not None:
        attempts.insert(0, ("potential", lambda: fix_potential(script, error, library)))
    for kind, attempt in attempts:
        try:
            done = attempt()
        except (IndexError, ValueError):
            done = None
        if done and done[0] != script:
            return done[0], kind, done[1]
    return None


def line_map(original: str, edited: str) -> dict[int, int | None]:
    """Line of ``edited`` -> the line of ``original`` it comes from (None: a line the repairs added)."""
    sm = difflib.SequenceMatcher(None, original.splitlines(), edited.splitlines(), autojunk=False)
    out: dict[int, int | None] = {}
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        for k in range(j1, j2):
            same_size = tag == "replace" and i2 - i1 == j2 - j1
            out[k + 1] = i1 + (k - j1) + 1 if tag == "equal" or same_size else None
    return out


def in_original(text: str, original: str, edited: str) -> str:
    """``text`` with each "line N" of ``edited`` said as the line of ``original`` (a user's script)."""
    mapping = line_map(original, edited)

    def sub(m: re.Match) -> str:
        n = mapping.get(int(m.group(1)))
        return f"line {n}" if n else f"a line mdbot added (line {m.group(1)} of the edited script)"

    return re.sub(r"\bline (\d+)\b", sub, text)


def all_fixes(
    script: str,
    error: dict | None,
    library: PotentialLibrary | None,
    styles: dict[str, list[str]] | None,
    recheck,
    original: str,
    limit: int = 8,
) -> tuple[str, list[str], list[str]] | None:
    """Every deterministic fix the checks reveal, applied in turn: (script, kinds, what changed) or None.

    ``recheck(script)`` checks a fixed script and gives its error (None when it passes); the next known
    fix applies to that error, until the check passes, an error has no known fix, or ``limit`` fixes."""
    kinds: list[str] = []
    changes: list[str] = []
    current = script
    for _ in range(limit):
        fixed = deterministic(current, error, library, styles)
        if fixed is None:
            break
        new, kind, change = fixed
        changes.append(in_original(change, original, current))
        kinds.append(kind)
        current = new
        error = recheck(current)
        if error is None:
            break
    return (current, kinds, changes) if kinds else None


# ------------------------------------------------------------------------------------------- loop guard
def _canonical(cmd: Command) -> str:
    out = []
    for w in cmd.words:
        try:
            out.append(repr(float(w)))
        except ValueError:
            out.append(w.lower())
    return " ".join(out)


def canonical(script: str) -> list[str]:
    return [_canonical(c) for c in commands(script)]


def repeats(new: str, tried: list[Attempt]) -> int | None:
    """The number of an earlier attempt that ``new`` would repeat (same script, or same up to the command
    where that attempt failed), else None."""
    new_cmds = canonical(new)
    for attempt in tried:
        old_list = commands(attempt["script"])
        old_cmds = [_canonical(c) for c in old_list]
        if new_cmds == old_cmds:
            return attempt["n"]
        result = attempt.get("run") or attempt["check"]
        err = error_of(result)
        line = err.get("line")
        if result.get("status") == "error" and line and (err.get("file") or MAIN) == MAIN:
            upto = next((i for i, c in enumerate(old_list) if c.line >= line), None)
            if upto is not None and new_cmds[: upto + 1] == old_cmds[: upto + 1]:
                return attempt["n"]
    return None
