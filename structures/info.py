"""What a structure is: formula, cell, density, symmetry, shortest distance, and the warnings a lab needs.

The JSON document of ``mdbot structure info`` (docs/architecture.md §4): formula, natoms, cell (a, b, c,
alpha, beta, gamma in Å and degrees), volume (Å³), density (g/cm³), spacegroup, elements, min_distance (Å)
and warnings. spglib decides the space group; ASE's neighbour list the shortest distance.
"""

from __future__ import annotations

from .read import Structure

OVERLAP_A = 0.5  # closer than this is two atoms on one site, never a bond
_ORGANIC = {"C", "N", "O"}
_AMU_A3_TO_G_CM3 = 1.66053906660


def spacegroup(atoms, symprec: float = 1e-3) -> str | None:
    if not atoms.pbc.all():
        return None
    import spglib

    cell = (atoms.cell[:], atoms.get_scaled_positions(wrap=True), atoms.numbers)
    return spglib.get_spacegroup(cell, symprec=symprec)


def shortest_distance(atoms) -> tuple[float, int, int] | None:
    """(distance, i, j) of the closest pair within 4 Å, periodic images included; None if none is."""
    import numpy as np
    from ase.neighborlist import neighbor_list

    if len(atoms) < 2:
        return None
    i, j, d = neighbor_list("ijd", atoms, 4.0, self_interaction=False)
    if len(d) == 0:
        return None
    k = int(np.argmin(d))
    return float(d[k]), int(i[k]), int(j[k])


def describe(structure: Structure) -> dict:
    """The ``structure info`` document."""
    atoms = structure.atoms
    elements = sorted(set(atoms.get_chemical_symbols()))
    periodic = bool(atoms.pbc.all())
    doc = {
        "name": structure.name,
        "format": structure.format,
        "formula": atoms.get_chemical_formula(mode="hill"),
        "natoms": len(atoms),
        "cell": None,
        "volume": None,
        "density": None,
        "spacegroup": spacegroup(atoms) if periodic else None,
        "elements": elements,
        "min_distance": None,
        "warnings": [],
    }
    if periodic:
        a, b, c, alpha, beta, gamma = (round(float(x), 4) for x in atoms.cell.cellpar())
        volume = float(abs(atoms.cell.volume))
        doc["cell"] = {"a": a, "b": b, "c": c, "alpha": alpha, "beta": beta, "gamma": gamma}
        doc["volume"] = round(volume, 3)
        doc["density"] = round(float(atoms.get_masses().sum()) * _AMU_A3_TO_G_CM3 / volume, 4)
    closest = shortest_distance(atoms)
    if closest:
        doc["min_distance"] = round(closest[0], 4)
    doc["warnings"] = _warnings(structure, elements, closest)
    return doc


def _warnings(structure: Structure, elements: list[str], closest) -> list[str]:
    out = []
    if closest and closest[0] < OVERLAP_A:
        d, i, j = closest
        out.append(
            f"overlapping atoms: {structure.atoms[i].symbol}{i + 1} and {structure.atoms[j].symbol}{j + 1} are "
            f"{d:.3f} Å apart (a duplicated site or disorder); fix it before a simulation"
        )
    if structure.partial_occupancy:
        out.append(
            "partial occupancies on "
            + ", ".join(structure.partial_occupancy[:10])
            + ": every site was read as fully occupied; choose one configuration for MD"
        )
    if structure.disorder:
        out.append("the CIF marks disorder groups: keep one of each group before a simulation")
    if "C" in elements and "H" not in elements and set(elements) & _ORGANIC:
        out.append(
            "carbon but no hydrogen: hydrogens are probably missing (common in X-ray structures); "
            "add them before typing a force field"
        )
    if structure.frames > 1:
        out.append(f"the file holds {structure.frames} frames; the last one was used")
    if not structure.atoms.pbc.all():
        out.append("no periodic cell: a molecule or cluster (a box is made when a simulation is built)")
    return out


def summary_text(doc: dict) -> str:
    """A few lines for a chat reply."""
    lines = [f"*{doc['name']}* ({doc['format']}): {doc['formula']}, {doc['natoms']} atoms"]
    if doc["cell"]:
        c = doc["cell"]
        lines.append(
            f"cell a={c['a']:.3f} b={c['b']:.3f} c={c['c']:.3f} Å, α={c['alpha']:.2f} β={c['beta']:.2f} "
            f"γ={c['gamma']:.2f}°; volume {doc['volume']:.1f} Å³, density {doc['density']:.3f} g/cm³"
        )
    if doc["spacegroup"]:
        lines.append(f"space group {doc['spacegroup']}")
    if doc["min_distance"] is not None:
        lines.append(f"shortest interatomic distance {doc['min_distance']:.3f} Å")
    lines += [f"⚠️ {w}" for w in doc["warnings"]]
    return "\n".join(lines)
