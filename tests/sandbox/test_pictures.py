"""Pictures worth looking at: the thermo plot's panels, units, targets and window; the snapshot's legend,
step, and a slab for large systems (real LAMMPS runs, tiny)."""

from __future__ import annotations

from pathlib import Path

from mdbot.sandbox import pictures
from mdbot.sandbox.jobs import run
from mdbot.sandbox.logparse import ThermoTable
from mdbot.sandbox.script import commands as parse


def test_panels_skip_constant_columns_and_put_what_matters_first():
    table = ThermoTable(columns=["Step", "E_mol", "Press", "PotEng", "Temp", "Volume"],
                        rows=[[0, 0.0, 1.0, -5.0, 1.2, 100.0], [10, 0.0, 0.8, -5.1, 1.1, 100.0],
                              [20, 0.0, 0.9, -5.2, 1.0, 100.0]])  # fmt: skip
    assert pictures.chosen_columns(table) == ["Temp", "PotEng", "Press"]  # E_mol 0 and constant volume go


def test_axes_carry_the_units_of_the_units_style():
    assert pictures.axis_label("Temp", "real") == "Temp (K)"
    assert pictures.axis_label("PotEng", "real") == "PotEng (kcal/mol)"
    assert pictures.axis_label("Press", "metal") == "Press (bar)"
    assert pictures.axis_label("Volume", "metal") == "Volume (Å³)"
    assert pictures.axis_label("E_pair", "lj") == "E_pair (LJ)"
    assert pictures.axis_label("c_msd[4]", "real") == "c_msd[4]"


def test_targets_are_read_from_the_script():
    cmds = parse("units real\nfix 1 all npt temp 300.0 300.0 100.0 iso 1.0 1.0 1000.0\n")
    assert pictures._units_style(cmds) == "real"
    assert pictures._pressure_target(cmds) == 1.0


BIG = """\
units lj
atom_style atomic
lattice fcc 0.8442
region box block 0 11 0 11 0 11
create_box 2 box
create_atoms 1 box
set type 1 type/fraction 2 0.3 12345
mass * 1.0
pair_style lj/cut 2.5
pair_coeff * * 1.0 1.0 2.5
velocity all create 1.0 87287 loop geom
fix 1 all nvt temp 1.0 1.0 0.5
thermo 5
run 10
"""


def test_snapshot_of_a_large_system_is_a_slab_with_step_and_legend(tmp_path, data_dir):
    from PIL import Image

    from mdbot.sandbox.settings import SandboxSettings

    settings = SandboxSettings(_env_file=None, data_dir=data_dir, pictures=True, snapshot_size=256)
    script = tmp_path / "in.big"
    script.write_text(BIG)
    result = run(script, settings=settings)
    assert result.status == "ok", result.error
    workdir = Path(result.workdir)
    log = (workdir / "log.lammps").read_text()
    assert "thresh z >" in log  # 5 324 atoms: the middle slab, not a solid cube
    with Image.open(workdir / "snapshot.jpg") as im:
        legend = [im.convert("RGB").getpixel((9, 22 + 14 * t + 5)) for t in range(2)]
    red, green = legend
    assert red[0] > 200 and red[1] < 60 and green[1] > 200 and green[0] < 60  # type 1 red, type 2 green
    assert (workdir / "thermo.png").read_bytes().startswith(b"\x89PNG")


def test_two_row_table_is_drawn(tmp_path):
    table = ThermoTable(
        columns=["Step", "Temp", "PotEng"], rows=[[0, 1.0, -5.0], [10, 1.1, -5.1]], finished=True
    )
    (path,) = pictures.thermo_plots([table], tmp_path, cmds=parse("units lj\n"), name="in.two")
    assert path.read_bytes().startswith(b"\x89PNG")
