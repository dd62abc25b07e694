"""A picture of a structure (PNG) with ASE's renderer: atoms coloured by element, the cell drawn."""

from __future__ import annotations

from pathlib import Path

MAX_DRAWN = 20_000  # above this a picture is slow and unreadable; the summary says so instead


def draw(atoms, out: Path, size_px: int = 600) -> Path | None:
    """Write a PNG of ``atoms`` to ``out``; None when the structure is too large to draw usefully."""
    if len(atoms) > MAX_DRAWN:
        return None
    import numpy as np
    from ase.io import write

    extent = float(np.ptp(atoms.positions, axis=0).max() or 1.0)
    if atoms.pbc.all():
        extent = max(extent, float(atoms.cell.lengths().max()))
    write(
        out,
        atoms,
        format="png",
        rotation="15x,-20y,0z",
        radii=0.6,
        scale=max(size_px / (extent + 4.0), 1),
        show_unit_cell=2 if atoms.pbc.all() else 0,
    )
    return out
