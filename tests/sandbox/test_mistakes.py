"""Scripts with known mistakes: the right error, the offending command, its line and a useful hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdbot.sandbox.jobs import check, run
from tests.conftest import requires_bwrap

pytestmark = requires_bwrap

HEAD = """\
units lj
atom_style atomic
lattice fcc 0.8442
region box block 0 4 0 4 0 4
create_box 1 box
create_atoms 1 box
mass 1 1.0
velocity all create 1.44 87287 loop geom
"""  # 8 lines: the mistakes below are on line 9 or later


@pytest.mark.parametrize(
    ("tail", "line", "command", "message", "hint"),
    [
        ("pair_styl lj/cut 2.5\n", 9, "pair_styl lj/cut 2.5", "Unknown command", "Did you mean 'pair_style'"),
        (
            "pair_style lj/cut 2.5\npair_coeff 1 1 1.0\n",
            10,
            "pair_coeff 1 1 1.0",
            "Incorrect args",
            "Syntax section",
        ),
        (
            "pair_style lj/cut 2.5\npair_coeff 1 1 1.0 1.0 2.5\nfix 1 all nvx\n",
            11,
            "fix 1 all nvx",
            "Unrecognized fix style 'nvx'",
            "'nve'",
        ),
        (
            "pair_style lj/cut 2.5\npair_coeff 1 3 1.0 1.0 2.5\n",
            10,
            "pair_coeff 1 3 1.0 1.0 2.5",
            "out of bounds",
            "atom types 1–1",
        ),
        (
            "pair_style lj/cut 2.5\nfix 1 all nve\n\n# production\nrun 100\n",
            13,
            "run 100",
            "All pair coeffs are not set",
            "pair_coeff",
        ),
        (
            "pair_style eam/alloy\npair_coeff * * Cu_typo.eam.alloy Cu\n",
            10,
            "pair_coeff * * Cu_typo.eam.alloy Cu",
            "potential file Cu_typo.eam.alloy",
            "Cu_zhou.eam.alloy",
        ),
        ("molecule water water.mol\n", 9, "molecule water water.mol", "water.mol", "Attach the file"),
    ],
)
def test_check_reports_error_command_line_and_hint(settings, tmp_path, tail, line, command, message, hint):
    script = tmp_path / "in.broken"
    script.write_text(HEAD + tail)
    result = check(script, settings=settings)
    assert result.status == "error"
    assert result.error is not None
    assert message in result.error.message
    assert result.error.line == line
    assert result.error.command == command
    assert result.error.hint and hint in result.error.hint


def test_check_of_valid_script_runs_no_dynamics(settings, tmp_path):
    script = tmp_path / "in.ok"
    script.write_text(HEAD + "pair_style lj/cut 2.5\npair_coeff 1 1 1.0 1.0 2.5\nfix 1 all nve\nrun 100000\n")
    result = check(script, settings=settings)
    assert result.status == "ok", result.error
    # Only the zero-step setup ran: one thermo row at step 0, not 100000 steps.
    assert [row[0] for row in result.thermo[-1].rows] == [0]
    assert result.wall_s < 20  # 100000 steps would take far longer


def test_missing_data_file_names_job_files(settings, tmp_path):
    data = tmp_path / "data.system"
    data.write_text(
        "LAMMPS data file\n\n1 atoms\n1 atom types\n0 1 xlo xhi\n0 1 ylo yhi\n0 1 zlo zhi\n\n"
        "Atoms\n\n1 1 0.5 0.5 0.5\n"
    )
    script = tmp_path / "in.read"
    script.write_text("units lj\natom_style atomic\nread_data data.sytem\n")
    result = check(script, [data], settings=settings)
    assert result.status == "error"
    assert result.error.line == 3
    assert "data.system" in result.error.hint  # "did you mean 'data.system'?"


def test_error_inside_included_file_names_that_file(settings, tmp_path):
    inc = tmp_path / "potential.inc"
    inc.write_text("pair_style lj/cut 2.5\n\npair_coeff 1 1 1.0\n")
    script = tmp_path / "in.main"
    script.write_text(HEAD + "include potential.inc\nrun 10\n")
    result = check(script, [inc], settings=settings)
    assert result.status == "error"
    assert result.error.file == "potential.inc"
    assert result.error.line == 3


def test_lost_atoms_at_run_time(settings, tmp_path):
    script = tmp_path / "in.explode"
    script.write_text(
        HEAD.replace("velocity all create 1.44", "velocity all create 100.0")
        + "pair_style lj/cut 2.5\npair_coeff 1 1 1.0 1.0 2.5\nboundary f f f\n".replace(
            "boundary f f f\n", ""
        )
        + "timestep 0.05\nfix 1 all nve\nthermo 10\nrun 2000\n"
    )
    result = run(script, settings=settings, timeout=300)
    assert result.status in ("ok", "error")
    if result.status == "error":
        assert "Lost atoms" in result.error.message or "Out of range" in result.error.message
    assert not result.health.ok
    assert result.health.issues


def test_nan_and_blow_up_are_unhealthy(settings, tmp_path):
    # Atoms on top of each other: the LJ repulsion overflows to inf/nan within a few steps.
    script = tmp_path / "in.overlap"
    script.write_text(
        "units lj\natom_style atomic\nregion box block 0 10 0 10 0 10\ncreate_box 1 box\n"
        "create_atoms 1 single 5 5 5\ncreate_atoms 1 single 5 5 5.0001\nmass 1 1.0\n"
        "pair_style lj/cut 2.5\npair_coeff 1 1 1.0 1.0 2.5\nthermo_modify lost ignore\n"
        "fix 1 all nve\nthermo 1\nrun 3\n"
    )
    result = run(script, settings=settings, timeout=300)
    assert not result.health.ok
    joined = " ".join(result.health.issues)
    assert "non-finite" in joined or "pressure blew up" in joined or "lost atoms" in joined


def test_thermostat_far_from_target_is_flagged(settings, tmp_path):
    # Tdamp of 1e6 time units: the thermostat effectively never acts within 200 steps.
    script = tmp_path / "in.nvt"
    script.write_text(
        HEAD + "pair_style lj/cut 2.5\npair_coeff 1 1 1.0 1.0 2.5\n"
        "variable T equal 3.0\nfix 1 all nvt temp ${T} ${T} 1000000.0\nthermo 10\nrun 200\n"
    )
    result = run(script, settings=settings)
    assert result.status == "ok", result.error
    assert any("thermostat target 3" in issue for issue in result.health.issues)


def test_failed_run_keeps_partial_thermo_and_log_tail(settings, tmp_path):
    script = tmp_path / "in.partial"
    script.write_text(
        HEAD + "pair_style lj/cut 2.5\npair_coeff 1 1 1.0 1.0 2.5\nfix 1 all nve\n"
        "thermo 10\nrun 30\nfix 2 all nvx\n"
    )
    result = run(script, settings=settings)
    assert result.status == "error"
    assert result.error.line == 14
    assert result.final_step == 30  # the first run's table is kept
    assert result.console_tail and "nvx" in result.console_tail
    assert Path(result.workdir, "log.lammps").exists()


@pytest.mark.parametrize("do", [check, run])
def test_error_after_the_script_switches_its_log_is_found(settings, tmp_path, do):
    """`log log.${name}` moves everything after it out of log.lammps; the error is read where it went."""
    script = tmp_path / "in.switch"
    script.write_text(
        "variable name string x\nlog log.${name}\nunits lj\natom_style atomic\n"
        "lattice custom 1.0 a1 1 0 0 a2 0 1 0 a3 0 0 1\n"  # no basis atoms: an error of LAMMPS's own
    )
    result = do(script, settings=settings)
    assert result.status == "error"
    assert result.error.message == "No basis atoms in lattice"
    assert result.error.line == 5 and result.error.command.startswith("lattice custom")
    assert "No basis atoms" in result.console_tail
    workdir = Path(result.workdir)
    assert "No basis atoms" not in (workdir / "log.lammps").read_text()  # it really went elsewhere
    assert "No basis atoms" in (workdir / "log.x").read_text()


def test_thermo_after_a_log_switch_is_kept(settings, tmp_path):
    script = tmp_path / "in.switch"
    script.write_text(
        HEAD + "pair_style lj/cut 2.5\npair_coeff 1 1 1.0 1.0 2.5\nfix 1 all nve\nthermo 10\nrun 20\n"
        "variable i loop 1\nlog log.run${i} append\nrun 30\nfix 2 all nvx\n"
    )
    result = run(script, settings=settings)
    assert result.status == "error" and result.error.line == 17
    assert len(result.thermo) == 2 and result.final_step == 50
