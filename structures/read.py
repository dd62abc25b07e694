"""Read a structure file a lab member attached, safely: CIF, POSCAR/CONTCAR, xyz/extxyz, PDB, mol/SDF, LAMMPS data.

The file is untrusted. Cheap checks run first (size, binary content, the atom count a header claims), then
ASE parses it in a child process with a memory and a wall-clock limit, so a hostile or absurd file costs at
most those limits and never the bot. What comes back is checked again (atom count, finite coordinates, a
sane cell) before it becomes an ``ase.Atoms``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import StructureError
from .settings import StructureSettings

# name patterns → (ASE format, what to call it)
FORMATS: tuple[tuple[re.Pattern, str, str], ...] = (
    (re.compile(r".*\.cif$", re.I), "cif", "CIF"),
    (re.compile(r"(.*\.(vasp|poscar|contcar)$|^(POSCAR|CONTCAR)([._-].*)?$)", re.I), "vasp", "POSCAR"),
    (re.compile(r".*\.extxyz$", re.I), "extxyz", "extended xyz"),
    (re.compile(r".*\.xyz$", re.I), "extxyz", "xyz"),
    (re.compile(r".*\.pdb$", re.I), "proteindatabank", "PDB"),
    (re.compile(r".*\.(mol|sdf)$", re.I), "sdf", "MDL mol/SDF"),
    (re.compile(r"(^data\..+|.*\.(data|lmpdat))$", re.I), "lammps-data", "LAMMPS data"),
)
_DATA_STYLE = re.compile(r"^\s*Atoms\s*#\s*(\w+)", re.M)
_DATA_COUNT = re.compile(r"^\s*(\d+)\s+atoms\s*$", re.M)
_XYZ_COUNT = re.compile(r"^\s*(\d+)\s*$")
# The child limits its own address space (no preexec_fn, which is unsafe in the bot's threaded process), after
# its own imports and before it touches the file: under a tight limit, OpenBLAS (scipy's, imported by ase.io)
# retries failed allocations instead of failing, so a limit set before the imports stalled until the timeout.
LIMIT_SELF = (
    "import resource, sys; _l = int(sys.argv.pop()) << 20; resource.setrlimit(resource.RLIMIT_AS, (_l, _l))\n"
)
_CHILD = (
    r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import ase.io
"""
    + LIMIT_SELF
    + r"""
path, fmt, style = sys.argv[1:4]
kw = {"atom_style": style} if fmt == "lammps-data" else {}
if fmt == "cif":
    kw["subtrans_included"] = False
try:
    images = ase.io.read(path, index=":", format=fmt, **kw)
except Exception as exc:
    print(json.dumps({"error": f"{type(exc).__name__}: {exc}"})); sys.exit(0)
if not images:
    print(json.dumps({"error": "no structure in the file"})); sys.exit(0)
a = images[-1]
occ = a.info.get("occupancy") or {}
partial = sorted({s for d in occ.values() for s, v in d.items() if float(v) < 0.999}) if occ else []
print(json.dumps({"symbols": a.get_chemical_symbols(), "positions": a.positions.tolist(),
                  "cell": a.cell.tolist(), "pbc": a.pbc.tolist(), "frames": len(images), "partial": partial}))
"""
)


def detect_format(name: str) -> tuple[str, str]:
    """(ASE format, label) for a file name; StructureError for names we do not read."""
    base = Path(name).name
    for pattern, fmt, label in FORMATS:
        if pattern.match(base):
            return fmt, label
    raise StructureError(
        f"{base}: not a structure file I can read (CIF, POSCAR/CONTCAR, .xyz/.extxyz, .pdb, .mol/.sdf, "
        "LAMMPS data as data.* or *.data)"
    )


def is_structure_name(name: str) -> bool:
    try:
        detect_format(name)
    except StructureError:
        return False
    return True


@dataclass
class Structure:
    """A parsed structure and what the reader noticed about the file."""

    atoms: object  # ase.Atoms (imported lazily)
    name: str
    format: str
    frames: int = 1
    partial_occupancy: list[str] = field(default_factory=list)
    disorder: bool = False


def _prechecks(path: Path, fmt: str, label: str, text: str, settings: StructureSettings) -> None:
    if "\x00" in text[:65536]:
        raise StructureError(f"{path.name} is a binary file, not a {label} text file")
    lines = text.splitlines()
    claimed = None
    if fmt == "lammps-data":
        m = _DATA_COUNT.search(text[:20000])
        if not m:
            raise StructureError(f"{path.name}: no 'N atoms' line in the LAMMPS data header")
        claimed = int(m.group(1))
        line = text[: m.start(1)].count("\n") + 1
    elif fmt == "extxyz" and lines and _XYZ_COUNT.match(lines[0]):
        claimed, line = int(lines[0]), 1
        if claimed + 2 > len(lines):
            raise StructureError(
                f"the file says {claimed} atoms but has only {max(0, len(lines) - 2)} atom lines (truncated?)",
                line,
            )
    if claimed is not None and claimed > settings.max_atoms:
        raise StructureError(f"the file claims {claimed:,} atoms; the limit is {settings.max_atoms:,}", line)


def _data_style(text: str) -> str:
    """The atom style a LAMMPS data file names after ``Atoms #``, else the one its column count implies."""
    named = _DATA_STYLE.search(text)
    if named:
        return named.group(1)
    section = re.search(r"^\s*Atoms\s*\n\s*\n\s*(.+)$", text, re.M)
    fields = len(section.group(1).split("#")[0].split()) if section else 5
    if fields in (8, 9, 10):
        fields -= 3  # image flags
    molecular = bool(re.search(r"^\s*\d+\s+bonds\s*$", text[:5000], re.M))
    return {5: "atomic", 6: "molecular" if molecular else "charge", 7: "full"}.get(fields, "atomic")


def read_structure(path: str | Path, settings: StructureSettings | None = None) -> Structure:
    """Parse ``path``; StructureError names the problem (and the line, where there is one)."""
    settings = settings or StructureSettings()
    path = Path(path)
    fmt, label = detect_format(path.name)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise StructureError(f"cannot read {path.name}: {exc.strerror}") from None
    if size == 0:
        raise StructureError(f"{path.name} is empty")
    if size > settings.max_file_mb * 1024 * 1024:
        raise StructureError(
            f"{path.name} is {size / 2**20:.1f} MiB; the limit is {settings.max_file_mb:g} MiB"
        )
    text = path.read_bytes().decode("utf-8", errors="replace")
    _prechecks(path, fmt, label, text, settings)
    style = _data_style(text) if fmt == "lammps-data" else ""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path), fmt, style, str(settings.memory_mb)],
            capture_output=True,
            text=True,
            timeout=settings.read_timeout_s,
        )
    except subprocess.TimeoutExpired:
        raise StructureError(f"reading {path.name} took longer than {settings.read_timeout_s:g} s") from None
    if proc.returncode != 0 or not proc.stdout.strip():
        why = "it needs more memory than allowed" if "MemoryError" in proc.stderr else "the parser crashed"
        raise StructureError(f"could not read {path.name} as {label}: {why}")
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    if doc.get("error", "").startswith("MemoryError"):
        raise StructureError(
            f"could not read {path.name} as {label}: it needs more memory than allowed "
            f"({settings.memory_mb:,} MiB, MDBOT_STRUCTURE_MEMORY_MB)"
        )
    if "error" in doc:
        raise StructureError(
            f"could not read {path.name} as {label}: {_plain(doc['error'])}", _line_of(doc["error"])
        )
    structure = Structure(
        atoms=_atoms(doc, path.name, settings),
        name=path.name,
        format=label,
        frames=doc["frames"],
        partial_occupancy=doc["partial"],
        disorder=fmt == "cif" and "_atom_site_disorder_group" in text,
    )
    return structure


def _plain(error: str) -> str:
    return error.split(": ", 1)[-1].strip()[:300] or error[:300]


def _line_of(error: str) -> int | None:
    m = re.search(r"\bline (\d+)", error)
    return int(m.group(1)) if m else None


def _atoms(doc: dict, name: str, settings: StructureSettings):
    import numpy as np
    from ase import Atoms

    n = len(doc["symbols"])
    if n == 0:
        raise StructureError(f"{name} has no atoms")
    if n > settings.max_atoms:
        raise StructureError(f"{name} has {n:,} atoms; the limit is {settings.max_atoms:,}")
    positions, cell = np.array(doc["positions"], float), np.array(doc["cell"], float)
    if not np.isfinite(positions).all() or not np.isfinite(cell).all():
        raise StructureError(f"{name} has coordinates or cell values that are not numbers")
    atoms = Atoms(doc["symbols"], positions=positions, cell=cell, pbc=doc["pbc"])
    if any(doc["pbc"]):
        lengths = atoms.cell.lengths()
        volume = abs(atoms.cell.volume)
        if volume < 1e-3 or (lengths < 0.5).any():
            raise StructureError(
                f"{name}: the cell is degenerate (volume {volume:.3g} Å³, edges {lengths.round(3).tolist()} Å)"
            )
        if (lengths > 1e4).any():
            raise StructureError(
                f"{name}: a cell edge of {lengths.max():.3g} Å is absurd (the limit is 10 000 Å)"
            )
    return atoms


def from_smiles(smiles: str, seed: int = 7):
    """One 3D conformer (with hydrogens) of a SMILES string, as ase.Atoms; StructureError when RDKit cannot."""
    if not smiles or len(smiles) > 500 or any(c.isspace() for c in smiles.strip()):
        raise StructureError("a SMILES string is one word of at most 500 characters")
    from rdkit import Chem, RDLogger
    from rdkit.Chem import AllChem

    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles.strip())
    if mol is None:
        raise StructureError(f"RDKit cannot parse the SMILES {smiles!r}")
    mol = Chem.AddHs(mol)
    if mol.GetNumAtoms() > 500:
        raise StructureError(
            f"{smiles} has {mol.GetNumAtoms()} atoms with hydrogens; molecules up to 500 are built"
        )
    if AllChem.EmbedMolecule(mol, randomSeed=seed) != 0:
        raise StructureError(f"RDKit could not make a 3D conformer of {smiles}")
    AllChem.MMFFOptimizeMolecule(mol) if AllChem.MMFFHasAllMoleculeParams(
        mol
    ) else AllChem.UFFOptimizeMolecule(mol)
    from ase import Atoms

    pos = mol.GetConformer().GetPositions()
    return Atoms([a.GetSymbol() for a in mol.GetAtoms()], positions=pos), mol
