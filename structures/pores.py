"""Pore geometry computed exactly with Zeo++ (the ``pyzeo`` wheel): LCD, PLD, accessible surface and volume.

Facts found on this code's machines (docs/architecture.md §9) decide the shape:
- Zeo++ calls ``exit()`` on some degenerate Voronoi geometries (symmetric sites in special positions),
  killing its process; so it runs in a child process with a time and a memory limit, and every atom is moved
  by at most 1e-3 Å first (a seeded, reproducible jitter), which avoids the degeneracy without changing any
  diameter beyond the third decimal.
- Its "high accuracy" setting decides both the time and whether results match published ones. ``fast``
  uses Zeo++'s ``LOW`` sphere approximation (seconds); ``exact`` uses ``DEF``, the setting of ``network
  -ha`` with which the CoRE MOF database computed its published LCD/PLD (seconds to minutes).
- Zeo++ reads our own minimal P1 CIF (written here): the CIF that ASE writes uses tags its reader ignores.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from .errors import StructureError
from .read import LIMIT_SELF
from .settings import StructureSettings


def versions(*dists: str) -> dict[str, str | None]:
    """Installed version of each distribution (None when it is not installed), for provenance."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for d in dists:
        try:
            out[d] = version(d)
        except PackageNotFoundError:
            out[d] = None
    return out


MODES = {"fast": "LOW", "exact": "DEF"}
JITTER_A = 1e-3
MC_SAMPLES = {"fast": 500, "exact": 2000}  # Monte Carlo samples per atom for surface and volume
_CHILD = (
    r"""
import json, sys
from pyzeo import AtomNetwork, high_accuracy_atomnet, surface_area, volume
"""
    + LIMIT_SELF
    + r"""
path, setting, probe, samples, res = sys.argv[1:6]
probe, samples = float(probe), int(samples)
net = AtomNetwork.read_from_CIF(path, True)
high_accuracy_atomnet(net, setting)
net.calculate_free_sphere_parameters(res)
sa = surface_area(net, probe, probe, samples, False).decode()
vol = volume(net, probe, probe, samples, False).decode()
sys.stdout.flush()
print("\nMDBOT-RESULT " + json.dumps({"sa": sa, "vol": vol}), flush=True)
"""
)


def write_p1_cif(atoms, path: Path, charges: list[float] | None = None) -> None:
    """A minimal P1 CIF (cell, symbol, fractional coordinates, and charges if given) as Zeo++ and
    lammps-interface read it."""
    a, b, c, alpha, beta, gamma = atoms.cell.cellpar()
    lines = [
        "data_mdbot",
        f"_cell_length_a {a:.6f}",
        f"_cell_length_b {b:.6f}",
        f"_cell_length_c {c:.6f}",
        f"_cell_angle_alpha {alpha:.6f}",
        f"_cell_angle_beta {beta:.6f}",
        f"_cell_angle_gamma {gamma:.6f}",
        "_symmetry_space_group_name_H-M 'P 1'",
        "_symmetry_Int_Tables_number 1",
        "loop_",
        "_symmetry_equiv_pos_as_xyz",
        "'x, y, z'",
        "loop_",
        "_atom_site_label",
        "_atom_site_type_symbol",
        "_atom_site_fract_x",
        "_atom_site_fract_y",
        "_atom_site_fract_z",
        *(["_atom_site_charge"] if charges is not None else []),
    ]
    for i, (sym, f) in enumerate(
        zip(atoms.get_chemical_symbols(), atoms.get_scaled_positions(wrap=True), strict=True)
    ):
        q = f" {charges[i]:.6f}" if charges is not None else ""
        lines.append(f"{sym}{i + 1} {sym} {f[0]:.6f} {f[1]:.6f} {f[2]:.6f}{q}")
    path.write_text("\n".join(lines) + "\n")


def _number(text: str, key: str) -> float | None:
    m = re.search(rf"{re.escape(key)}\s+(-?[\d.eE+-]+)", text)
    return float(m.group(1)) if m else None


def pore_geometry(
    atoms, mode: str = "fast", probe: float | None = None, settings: StructureSettings | None = None
) -> dict:
    """The ``structure pores`` document: lcd, pld, lfpd, asa (Å², m²/g), void_fraction, probe, settings."""
    settings = settings or StructureSettings()
    if mode not in MODES:
        raise StructureError(f"pore mode must be one of {', '.join(MODES)}")
    if not atoms.pbc.all():
        raise StructureError("pore geometry needs a periodic crystal; this structure has no cell")
    probe = settings.probe_radius if probe is None else probe
    if not 0 <= probe <= 5:
        raise StructureError("the probe radius must be between 0 and 5 Å")
    import numpy as np

    moved = atoms.copy()
    moved.positions += np.random.default_rng(0).uniform(-JITTER_A, JITTER_A, moved.positions.shape)
    timeout = settings.pores_exact_timeout_s if mode == "exact" else settings.pores_timeout_s
    with tempfile.TemporaryDirectory(prefix="mdbot-zeo-") as tmp:
        cif, res = Path(tmp) / "s.cif", Path(tmp) / "s.res"
        write_p1_cif(moved, cif)
        argv = [
            sys.executable,
            "-c",
            _CHILD,
            str(cif),
            MODES[mode],
            str(probe),
            str(MC_SAMPLES[mode]),
            str(res),
            str(settings.memory_mb),
        ]
        try:
            proc = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=tmp,
            )
        except subprocess.TimeoutExpired:
            raise StructureError(
                f"Zeo++ took longer than {timeout:g} s in {mode} mode"
                + (" (try the fast mode)" if mode == "exact" else "")
            ) from None
        marker = proc.stdout.rfind("MDBOT-RESULT ")
        if not res.is_file() or marker < 0:
            last = (proc.stdout.strip().splitlines() or ["no output"])[-1]
            raise StructureError(f"Zeo++ stopped on this structure ({last[:200]})")
        di, df, dif = (float(x) for x in res.read_text().split()[1:4])
        out = json.loads(proc.stdout[marker + len("MDBOT-RESULT ") :])
    sa, vol = out["sa"], out["vol"]
    return {
        "lcd": round(di, 4),
        "pld": round(df, 4),
        "lfpd": round(dif, 4),
        "asa": _number(sa, "ASA_A^2:"),
        "asa_m2_g": _number(sa, "ASA_m^2/g:"),
        "void_fraction": _number(vol, "AV_Volume_fraction:"),
        "probe": probe,
        "settings": {
            "mode": mode,
            "zeo_accuracy": MODES[mode],
            "radii": "Zeo++ default (CCDC) radii",
            "mc_samples_per_atom": MC_SAMPLES[mode],
            "jitter_A": JITTER_A,
            "pyzeo": versions("pyzeo")["pyzeo"],
        },
    }


def is_porous(doc: dict) -> bool:
    """Worth reporting as a porous material: a free sphere of at least a helium atom's size gets through."""
    return (doc.get("pld") or 0) >= 2.0
