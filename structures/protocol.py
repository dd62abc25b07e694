"""The simulation protocol appended to every built setup: minimize, velocities, NVT or NPT, thermo, a final data file.

One template for the three kinds of system, in the units of their force field (``metal`` for the potentials
of the catalog, ``real`` for UFF); pressure is given in bar and converted to the units' own.
"""

from __future__ import annotations

ENSEMBLES = ("nvt", "npt")
_PRESSURE_UNIT = {"metal": ("bar", 1.0), "real": ("atm", 1 / 1.01325)}
_DT = {"metal": 0.001, "real": 1.0}  # ps, fs


def protocol(
    units: str,
    temperature: float,
    ensemble: str,
    pressure_bar: float | None,
    steps: int,
    triclinic: bool,
    minimize: bool = True,
    seed: int = 4928459,
) -> str:
    if ensemble not in ENSEMBLES:
        raise ValueError(f"ensemble must be nvt or npt, not {ensemble}")
    dt = _DT[units]
    lines = [
        "",
        "# ---- protocol written by mdbot ----",
        f"timestep {dt:g}",
        "thermo 50",
        "thermo_style custom step temp pe ke etotal press vol density",
    ]
    if minimize:
        lines += ["min_style cg", "minimize 1.0e-4 1.0e-6 200 2000", "reset_timestep 0"]
    # At its energy minimum a structure shares kinetic energy equally with potential energy (equipartition):
    # velocities drawn at twice the target settle near it instead of at half of it.
    start = 2 * temperature if minimize else temperature
    lines.append(f"velocity all create {start:g} {seed} mom yes rot yes dist gaussian")
    tdamp = 100 * dt
    if ensemble == "nvt":
        lines.append(f"fix md all nvt temp {temperature:g} {temperature:g} {tdamp:g}")
    else:
        name, factor = _PRESSURE_UNIT[units]
        p = (pressure_bar if pressure_bar is not None else 1.0) * factor
        couple = "tri" if triclinic else "iso"
        lines.append(
            f"fix md all npt temp {temperature:g} {temperature:g} {tdamp:g} {couple} {p:.6g} {p:.6g} {1000 * dt:g}"
            f"  # {p:.6g} {name}"
        )
    lines += [f"run {steps}", "write_data final.data", ""]
    return "\n".join(lines)
