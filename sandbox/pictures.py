"""Pictures of a job: a thermo plot per run (matplotlib) and a snapshot rendered by LAMMPS itself.

matplotlib takes ~0.5 s to import, longer than many test runs; ``preload()`` imports it on a spare
thread while LAMMPS runs so the plot costs only its drawing time.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

from . import jobfiles
from .logparse import ThermoTable

SNAPSHOT = "snapshot.jpg"
_preload: threading.Thread | None = None


def snapshot_epilogue(size: int) -> str:
    """Commands appended to a run's input to render the final configuration (JPEG: the wheel has no PNG)."""
    return (
        "\n# --- added by mdbot: picture of the final configuration ---\n"
        f"write_dump all image {SNAPSHOT} type type size {size} {size} zoom 1.2 shiny 0.3 "
        "view 60 30 box yes 0.01 modify backcolor white boxcolor black\n"
    )


def _import() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401


def preload() -> None:
    """Start importing matplotlib in the background (idempotent)."""
    global _preload
    if _preload is None:
        _preload = threading.Thread(target=_import, daemon=True)
        _preload.start()


def thermo_plots(tables: list[ThermoTable], workdir: Path, max_panels: int = 6) -> list[Path]:
    """One PNG per run with a panel per thermo quantity against the step."""
    drawable = [t for t in tables if len(t.rows) >= 2]
    if not drawable:
        return []
    preload()
    assert _preload is not None
    _preload.join()
    import matplotlib.pyplot as plt

    out = []
    for n, table in enumerate(drawable, start=1):
        xname = "Step" if "Step" in table.columns else None
        x = table.column("Step") if xname else list(range(len(table.rows)))
        names = [c for c in table.columns if c != "Step"][:max_panels]
        if not names:
            continue
        cols = 2 if len(names) > 1 else 1
        rows = math.ceil(len(names) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 2.4 * rows), squeeze=False, sharex=True)
        for ax, name in zip(axes.flat, names, strict=False):
            ax.plot(
                x, table.column(name), lw=1.2, color="#1f6fb4", marker="o" if len(x) <= 30 else None, ms=3
            )
            ax.set_ylabel(name)
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(names) :]:
            ax.set_visible(False)
        for ax in axes.flat:
            ax.set_xlabel(xname or "row")
            ax.tick_params(labelbottom=True)
        title = f"run {n}" if len(drawable) > 1 else "thermo output"
        if not table.finished:
            title += " (did not finish)"
        fig.suptitle(title)
        # subplots_adjust instead of tight_layout: same look here, a third of the drawing time.
        fig.subplots_adjust(
            left=0.1, right=0.97, top=0.9, bottom=0.1 if rows > 1 else 0.18, hspace=0.45, wspace=0.3
        )
        path = workdir / ("thermo.png" if len(drawable) == 1 else f"thermo-{n}.png")
        try:
            with jobfiles.create(path) as fh:  # never through a link the job may have planted
                fig.savefig(fh, dpi=80, format="png")
            out.append(path)
        except OSError:
            pass  # the name is taken by something we may not replace; the numbers are in the result
        finally:
            plt.close(fig)
    return out
