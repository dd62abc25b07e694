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


SLICE_ATOMS = 5000  # above this the snapshot is a slab through the middle (a full box is a solid cube)
TYPE_COLORS = ["red", "green", "blue", "yellow", "aqua", "cyan"]  # LAMMPS' dump image cycle for types 1, 2, …
_RGB = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0),
        "aqua": (127, 255, 212), "cyan": (0, 255, 255)}  # fmt: skip


def snapshot_epilogue(size: int) -> str:
    """Commands appended to a run's input to render the final configuration (JPEG: the wheel has no PNG),
    atoms coloured by type. A large system is shown as a slab, a tenth of the box thick, seen face on."""
    common = f"write_dump all image {SNAPSHOT} type type size {size} {size} shiny 0.3"
    whole = f"{common} zoom 1.2 view 60 30 box yes 0.01 modify backcolor white boxcolor black"
    slab = (f"{common} zoom 1.1 view 0 0 box yes 0.005 modify backcolor white boxcolor black "
            "thresh z > $(zlo+0.45*lz) thresh z < $(zlo+0.55*lz)")  # fmt: skip
    return (
        "\n# --- added by mdbot: picture of the final configuration ---\n"
        f'if "$(atoms) > {SLICE_ATOMS}" then "{slab}" else "{whole}"\n'
    )


def _count_types(cmds, workdir: Path) -> int | None:
    """Atom types from ``create_box N`` or a data file's header."""
    for c in cmds or []:
        if c.name == "create_box" and len(c.words) > 1 and c.words[1].isdigit():
            return int(c.words[1])
        if c.name == "read_data" and len(c.words) > 1:
            try:
                with open(workdir / Path(c.words[1]).name, errors="replace") as fh:
                    for _, line in zip(range(60), fh, strict=False):
                        if line.strip().endswith("atom types"):
                            return int(line.split()[0])
            except (OSError, ValueError):
                return None
    return None


def annotate_snapshot(workdir: Path, step: int | None, cmds=None, atoms: int | None = None) -> bool:
    """Write the step, the view (whole box or middle slab) and a legend of atom types into the snapshot."""
    path = workdir / SNAPSHOT
    if not path.is_file() or path.is_symlink():
        return False
    try:
        from PIL import Image, ImageDraw

        with Image.open(path) as im:
            im = im.convert("RGB")
        draw = ImageDraw.Draw(im)
        sliced = atoms is not None and atoms > SLICE_ATOMS
        label = f"step {step if step is not None else '?'}"
        label += " · middle slab (z 45–55 %)" if sliced else ""
        draw.rectangle((0, 0, im.width, 16), fill="white")
        draw.text((4, 2), label, fill="black")
        ntypes = min(_count_types(cmds, workdir) or 0, 12)
        for t in range(ntypes):
            y = 22 + 14 * t
            color = TYPE_COLORS[t % len(TYPE_COLORS)]
            draw.rectangle((4, y, 14, y + 10), fill=_RGB[color], outline="black")
            draw.text((18, y - 1), f"type {t + 1}", fill="black")
        with jobfiles.create(path) as fh:
            im.save(fh, format="JPEG", quality=90)
        return True
    except Exception:  # noqa: BLE001 - a picture is a bonus; the run's result does not depend on it
        return False


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


# What a member looks at first, in this order; the rest of the columns after them.
FIRST = ("Temp", "TotEng", "PotEng", "KinEng", "Press", "Volume", "Density", "Enthalpy")
_QUANTITY = {"Temp": "temperature", "Press": "pressure", "Volume": "volume", "Density": "density",
             "Time": "time", "Lx": "distance", "Ly": "distance", "Lz": "distance", "Cella": "distance",
             "Cellb": "distance", "Cellc": "distance", "Xlo": "distance", "Xhi": "distance"}  # fmt: skip
UNITS = {  # the `units` styles of the LAMMPS manual
    "real": {"energy": "kcal/mol", "temperature": "K", "pressure": "atm", "volume": "Å³", "density": "g/cm³",
             "time": "fs", "distance": "Å"},
    "metal": {"energy": "eV", "temperature": "K", "pressure": "bar", "volume": "Å³", "density": "g/cm³",
              "time": "ps", "distance": "Å"},
    "si": {"energy": "J", "temperature": "K", "pressure": "Pa", "volume": "m³", "density": "kg/m³",
           "time": "s", "distance": "m"},
    "cgs": {"energy": "erg", "temperature": "K", "pressure": "dyne/cm²", "volume": "cm³", "density": "g/cm³",
            "time": "s", "distance": "cm"},
    "electron": {"energy": "Hartree", "temperature": "K", "pressure": "Pa", "volume": "Bohr³",
                 "density": "amu/Bohr³", "time": "fs", "distance": "Bohr"},
    "micro": {"energy": "pg·µm²/µs²", "temperature": "K", "pressure": "pg/(µm·µs²)", "volume": "µm³",
              "density": "pg/µm³", "time": "µs", "distance": "µm"},
    "nano": {"energy": "ag·nm²/ns²", "temperature": "K", "pressure": "ag/(nm·ns²)", "volume": "nm³",
             "density": "ag/nm³", "time": "ns", "distance": "nm"},
}  # fmt: skip


def _units_style(cmds) -> str:
    for c in cmds or []:
        if c.name == "units" and len(c.words) > 1:
            return c.words[1]
    return "lj"  # LAMMPS' default


def axis_label(column: str, style: str) -> str:
    """``Temp (K)``, ``PotEng (kcal/mol)``; LJ quantities are reduced (``Temp (LJ)``)."""
    quantity = _QUANTITY.get(column) or ("energy" if column.startswith(("E_", "Eng")) or "Eng" in column
                                          or column == "Enthalpy" else None)  # fmt: skip
    if column.startswith("P") and column[1:] in ("xx", "yy", "zz", "xy", "xz", "yz"):
        quantity = "pressure"
    if quantity is None:
        return column
    unit = "LJ" if style == "lj" else UNITS.get(style, {}).get(quantity)
    return f"{column} ({unit})" if unit else column


def _varying(values: list[float]) -> bool:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if len(finite) < 2:
        return bool(finite) and len(values) == 1
    lo, hi = min(finite), max(finite)
    return hi - lo > 1e-9 * max(1.0, abs(hi), abs(lo))


def chosen_columns(table: ThermoTable, max_panels: int = 6) -> list[str]:
    """The columns worth a panel: what a member looks at first, then the rest; constant ones skipped."""
    names = [c for c in table.columns if c not in ("Step", "Time", "Elapsed", "Elaplong", "CPU", "CPULeft")]
    ordered = [c for c in FIRST if c in names] + [c for c in names if c not in FIRST]
    return [c for c in ordered if _varying(table.column(c))][:max_panels]


def _pressure_target(cmds) -> float | None:
    """The barostat's target (``fix … npt/nph … iso|aniso|tri|x|y|z Pstart Pstop``, the last fix)."""
    from .health import _resolve, _variables

    variables, target = _variables(cmds or []), None
    for c in cmds or []:
        if c.name == "fix" and len(c.words) > 3 and c.words[3].split("/")[0] in ("npt", "nph", "press"):
            for i, w in enumerate(c.words):
                if w in ("iso", "aniso", "tri", "x", "y", "z") and i + 2 < len(c.words):
                    target = _resolve(c.words[i + 2], variables)
                    break
    return target


def thermo_plots(tables: list[ThermoTable], workdir: Path, max_panels: int = 6, cmds=None,
                 name: str | None = None) -> list[Path]:  # fmt: skip
    """One PNG per run: the quantities that change, against the step, labelled with the script's units,
    the thermostat/barostat target drawn, the window the health check judged (the last half of the last
    finished run) shaded, titled with the run's name and step range. Two rows are two points, not a line."""
    drawable = [t for t in tables if len(t.rows) >= 2]
    if not drawable:
        return []
    preload()
    assert _preload is not None
    _preload.join()
    import matplotlib.pyplot as plt

    from .health import LATE, thermostat_target

    style = _units_style(cmds)
    targets = {"Temp": thermostat_target(cmds or []), "Press": _pressure_target(cmds)}
    judged = next((t for t in reversed(tables) if t.finished), None)
    out = []
    for n, table in enumerate(drawable, start=1):
        xname = "Step" if "Step" in table.columns else None
        x = table.column("Step") if xname else list(range(len(table.rows)))
        names = chosen_columns(table, max_panels)
        if not names:
            continue
        cols = 2 if len(names) > 1 else 1
        rows = math.ceil(len(names) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 2.4 * rows + 0.4), squeeze=False, sharex=True)
        few = len(x) <= 2
        for ax, col in zip(axes.flat, names, strict=False):
            ax.plot(x, table.column(col), lw=0 if few else 1.2, ls="none" if few else "-", color="#1f6fb4",
                    marker="o" if len(x) <= 30 else None, ms=5 if few else 3)  # fmt: skip
            if targets.get(col) is not None:
                ax.axhline(targets[col], color="#d62728", ls="--", lw=1, label=f"target {targets[col]:g}")
                ax.legend(loc="best", fontsize=7, frameon=False)
            if table is judged and len(x) >= 4:
                ax.axvspan(x[int(len(x) * (1 - LATE))], x[-1], color="#2ca02c", alpha=0.12, lw=0)
            ax.set_ylabel(axis_label(col, style), fontsize=8)
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(names) :]:
            ax.set_visible(False)
        for ax in axes.flat:
            ax.set_xlabel(xname or "row")
            ax.tick_params(labelbottom=True, labelsize=7)
        title = name or "thermo output"
        if len(drawable) > 1:
            title += f" — run {n} of {len(drawable)}"
        if xname:
            title += f", steps {int(x[0])}–{int(x[-1])}"
        if not table.finished:
            title += " (did not finish)"
        if table is judged and len(x) >= 4:
            title += "\nshaded: the window the health check judged"
        fig.suptitle(title, fontsize=10)
        # subplots_adjust instead of tight_layout: same look here, a third of the drawing time.
        fig.subplots_adjust(
            left=0.12, right=0.97, top=0.84 if rows > 1 else 0.76, bottom=0.1 if rows > 1 else 0.2,
            hspace=0.5, wspace=0.35,
        )  # fmt: skip
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
