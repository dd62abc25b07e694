"""Reading LAMMPS input text the way LAMMPS does: logical lines, comments, quotes, continuations.

Only what the policy and the error locator need: the command word, its arguments and the line number in
the user's file. Variable substitution is *not* performed (it happens at run time inside the sandbox).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# Commands implemented by LAMMPS's Input class itself; `lmp -h` lists only the pluggable "command styles".
INPUT_COMMANDS = frozenset(
    """
    clear echo if include jump label log next partition print python quit shell variable
    angle_coeff angle_style atom_modify atom_style bond_coeff bond_style bond_write boundary comm_modify
    comm_style compute compute_modify dielectric dihedral_coeff dihedral_style dimension dump dump_modify
    fix fix_modify group improper_coeff improper_style kspace_modify kspace_style labelmap lattice mass
    min_modify min_style molecule neigh_modify neighbor newton package pair_coeff pair_modify pair_style
    pair_write processors region reset_timestep restart run_style special_bonds suffix thermo
    thermo_modify thermo_style timestep timer uncompute undump unfix units kim plugin
    """.split()
)


@dataclass(frozen=True)
class Command:
    """One logical input line: ``words[0]`` is the command, ``line`` the 1-based first physical line."""

    line: int
    text: str  # the logical line without comment, continuations joined
    words: list[str]  # tokens, quotes removed

    @property
    def name(self) -> str:
        return self.words[0] if self.words else ""


def strip_comment(line: str) -> str:
    """Remove a '#' comment that is not inside quotes (LAMMPS's rule)."""
    quote: str | None = None
    i = 0
    while i < len(line):
        if line.startswith('"""', i):
            quote = None if quote == '"""' else ('"""' if quote is None else quote)
            i += 3
            continue
        c = line[i]
        if quote is None and c in "'\"":
            quote = c
        elif quote == c:
            quote = None
        elif c == "#" and quote is None:
            return line[:i]
        i += 1
    return line


_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+\-]{0,127}$")
_TOKEN = re.compile(r'"""(.*?)"""|"([^"]*)"|\'([^\']*)\'|(\S+)', re.S)


def tokenize(text: str) -> list[str]:
    """Split a logical line into words; quoted strings become one word without their quotes."""
    words = []
    for m in _TOKEN.finditer(text):
        words.append(next(g for g in m.groups() if g is not None))
    return words


def commands(script: str) -> list[Command]:
    """Logical lines of a script with their starting line numbers (``&`` continues a line)."""
    out: list[Command] = []
    pending: list[str] = []
    start = 0
    in_triple = False
    for number, raw in enumerate(script.splitlines(), start=1):
        if not pending:
            start = number
        if raw.count('"""') % 2 == 1:
            in_triple = not in_triple
        body = raw if in_triple else strip_comment(raw)
        stripped = body.rstrip()
        if in_triple:
            pending.append(raw)
            continue
        if stripped.endswith("&"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        text = " ".join(p.strip() for p in pending).strip()
        pending = []
        if text:
            out.append(Command(start, text, tokenize(text)))
    if pending:
        text = " ".join(p.strip() for p in pending).strip()
        if text:
            out.append(Command(start, text, tokenize(text)))
    return out


def script_sources(main_name: str, main_text: str, workdir: Path) -> list[tuple[str, list[Command]]]:
    """The main script and the staged files it includes, as parsed commands."""
    main_cmds = commands(main_text)
    out = [(main_name, main_cmds)]
    for cmd in main_cmds:
        # Only plain names of files in the job directory are read: never a path ("//etc/x", "sub/link/x"),
        # which could reach host files through a link the job planted.
        if cmd.name == "include" and len(cmd.words) > 1 and _PLAIN_NAME.match(cmd.words[1]):
            from .jobfiles import read_text

            text = read_text(workdir / cmd.words[1])
            if text is not None:
                out.append((cmd.words[1], commands(text)))
    return out
