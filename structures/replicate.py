"""Fill a box with copies of one typed molecule: the topology of a LAMMPS data file, repeated onto packed positions.

lammps-interface types a periodic structure by perceiving every bond and molecule in it, which grows much
faster than the atom count (a 1 500-atom ethanol box: four minutes). A liquid is many copies of one molecule,
so the molecule is typed once, alone in a box, and its data file (types, charges, bonds, angles, dihedrals,
impropers and their coefficients) is repeated here for each copy packmol placed.
"""

from __future__ import annotations

import re

from .errors import StructureError

TOPOLOGY = ("Bonds", "Angles", "Dihedrals", "Impropers")
_SECTION = re.compile(r"^([A-Z][A-Za-z]*(?: [A-Z][A-Za-z]*)?)\s*(#.*)?$")


def split_data(text: str) -> tuple[list[str], dict[str, list[str]]]:
    """(header lines, section name → its non-blank body lines) of a LAMMPS data file."""
    lines = text.splitlines()
    header, sections, current = [], {}, None
    for line in lines[1:]:
        m = _SECTION.match(line.strip())
        if m and not re.match(r"^[\d.\-+eE\s]", line.strip()):
            current = m.group(1)
            sections[current] = []
        elif current is None:
            header.append(line)
        elif line.strip():
            sections[current].append(line)
    return header, sections


def atom_order(template_atoms: list[str], positions) -> list[int]:
    """For each data-file atom (in file order), the index of the same atom in ``positions``, matched by
    position relative to the centroid (lammps-interface may shift the molecule)."""
    import numpy as np

    data = np.array([[float(x) for x in ln.split()[4:7]] for ln in template_atoms])
    mine = np.asarray(positions, float)
    data -= data.mean(axis=0)
    mine = mine - mine.mean(axis=0)
    order = [int(np.argmin(np.linalg.norm(mine - p, axis=1))) for p in data]
    worst = max(float(np.linalg.norm(mine[j] - p)) for j, p in zip(order, data, strict=True))
    if sorted(order) != list(range(len(mine))) or worst > 0.05:
        raise StructureError(
            "the typed molecule does not match the packed one (lammps-interface moved its atoms)"
        )
    return order


def fill(template: str, reference, copies: list, box: float, title: str) -> str:
    """A data file of ``len(copies)`` molecules. ``reference`` are the positions of the molecule as it was
    typed, ``copies[k]`` molecule k's positions in the same atom order (packmol keeps it)."""
    header, sections = split_data(template)
    atoms = sections.get("Atoms", [])
    order = atom_order(atoms, reference)
    per, n = len(atoms), len(copies)
    counts = {name.lower(): len(sections.get(name, [])) for name in TOPOLOGY}
    out = [title, ""]
    for line in header:
        m = re.match(r"^\s*(\d+)\s+(atoms|bonds|angles|dihedrals|impropers)\s*$", line)
        if m:
            out.append(f"{int(m.group(1)) * n} {m.group(2)}")
        elif re.search(r"\b(xlo|ylo|zlo)\b", line):
            axis = line.split()[2][0]
            out.append(f"0.0 {box:.6f} {axis}lo {axis}hi")
        elif "xy xz yz" in line:
            continue
        else:
            out.append(line)
    for name, body in sections.items():
        out += ["", name, ""]
        if name == "Atoms":
            for k, pos in enumerate(copies):
                for line, j in zip(atoms, order, strict=True):
                    aid, _mol, atype, q = line.split()[:4]
                    x, y, z = pos[j]
                    out.append(f"{int(aid) + k * per} {k + 1} {atype} {q} {x:.6f} {y:.6f} {z:.6f}")
        elif name in TOPOLOGY:
            count = counts[name.lower()]
            for k in range(n):
                for line in body:
                    tid, ttype, *ids = line.split()[: 2 + TOPOLOGY.index(name) + 2]
                    shifted = " ".join(str(int(i) + k * per) for i in ids)
                    out.append(f"{int(tid) + k * count} {ttype} {shifted}")
        elif name == "Velocities":
            continue
        else:
            out += body
    return "\n".join(out) + "\n"
