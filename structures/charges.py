"""Partial charges by charge equilibration, computed by LAMMPS itself: ``fix qeq/slater`` in the sandbox.

lammps-interface types a framework but writes zero charges. Asked for charges, a build first runs a zero-step
LAMMPS job on the bare structure: QEq (Rappé and Goddard, J. Phys. Chem. 95, 3358, 1991) with each element's
electronegativity χ and idempotential J as UFF tabulates them (lammps-interface ships that table, ``uff.py``),
between 1s Slater charge densities whose exponent gives the same on-site Coulomb energy (J = 5/8 ζ e²/4πε₀),
summed by Wolf's damped shifted method (α 0.2 Å⁻¹, 12 Å). ``qeq/shielded`` with the same χ and J was tried
first and is unusable here: its shielding lets a framework's charges run away (±200 e on ABAVIJ). QEq
charges are known to be larger than those fitted to DFT (Co +2.6, O −1.3 in ABAVIJ): good enough to switch
on electrostatics, not a substitute for DDEC or REPEAT charges. The charges go into the P1 CIF that
lammps-interface reads (``_atom_site_charge``), which then writes them with a long-range Coulomb
(``lj/cut/coul/long`` and Ewald). The method and its parameters are recorded in the setup.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from .errors import StructureError

EV_KCAL = 23.060548  # kcal/mol per eV
COULOMB_EV_A = 14.399645  # e²/(4πε₀) in eV·Å
QEQ_CUTOFF = 12.0  # Å: the Wolf sum of qeq/slater (damping alpha 0.2 1/Å)
METHOD = "QEq (Rappé–Goddard 1991; UFF χ and J, 1s Slater ζ = 8J/(5 e²/4πε₀)) by LAMMPS fix qeq/slater, Wolf α 0.2 Å⁻¹, 12 Å, tolerance 1e-6"


def parameters(elements: list[str]) -> dict[str, tuple[float, float, float]]:
    """element → (χ kcal/mol, η = J kcal/mol, ζ 1/Å) for ``qeq/slater`` in units real."""
    from lammps_interface.uff import UFF_DATA  # Atom, r1, theta0, x1, D1, zeta, Z1, Vi, Uj, Xi, Hard, Radius

    table: dict[str, tuple[float, float]] = {}
    for key, row in UFF_DATA.items():
        element = re.match(r"[A-Z][a-z]?", key).group(0)
        table.setdefault(element, (row[8], 2 * row[9]))  # UFF's "Hard" is J/2
    missing = sorted(set(elements) - set(table))
    if missing:
        raise StructureError(
            f"no QEq parameters for {', '.join(missing)} in UFF's table: charges cannot be equilibrated"
        )
    return {
        e: (table[e][0] * EV_KCAL, table[e][1] * EV_KCAL, 8 * table[e][1] / (5 * COULOMB_EV_A))
        for e in elements
    }


def qeq_charges(atoms, sandbox=None) -> list[float]:
    """The QEq charge of each atom (e), in order, from a zero-step LAMMPS run in the sandbox."""
    from ase.io import write

    from mdbot.sandbox import jobs

    elements = sorted(set(atoms.get_chemical_symbols()))
    params = parameters(elements)
    with tempfile.TemporaryDirectory(prefix="mdbot-qeq-") as tmp:
        data, qfile = Path(tmp) / "data.qeq", Path(tmp) / "param.qeq"
        write(
            data,
            atoms,
            format="lammps-data",
            specorder=elements,
            masses=True,
            units="real",
            atom_style="charge",
        )
        qfile.write_text(
            "".join(
                f"{i} {chi:.5f} {eta:.5f} 1.0 {zeta:.5f} 0.0\n"  # gamma: unused by qeq/slater
                for i, (chi, eta, zeta) in enumerate((params[e] for e in elements), start=1)
            )  # fmt: skip
        )
        script = "\n".join([
            "units real", "atom_style charge", "boundary p p p", f"read_data {data.name}",
            f"pair_style zero {QEQ_CUTOFF:g}", "pair_coeff * *", "neighbor 2.0 bin",
            f"fix qeq all qeq/slater 1 {QEQ_CUTOFF:g} 1.0e-6 1000 {qfile.name} alpha 0.2",
            "run 0", "write_dump all custom charges.txt id q modify sort id", "",
        ])  # fmt: skip
        result = jobs.run(script, [data, qfile], settings=sandbox, pictures_ok=False)
        dump = Path(result.workdir or tmp) / "charges.txt"
        if result.status != "ok" or not dump.is_file():
            why = result.error.message if result.error else f"the run ended {result.status}"
            raise StructureError(f"charge equilibration (fix qeq/slater) failed: {why}")
        rows = dump.read_text().split("ITEM: ATOMS id q", 1)[-1].split()
    charges = [float(q) for q in rows[1::2]]
    if len(charges) != len(atoms) or any(abs(q) > 4 for q in charges):
        raise StructureError("charge equilibration gave unusable charges (missing or beyond ±4 e)")
    return charges
