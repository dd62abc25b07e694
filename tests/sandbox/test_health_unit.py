"""Health rules on hand-made thermo tables."""

from __future__ import annotations

from mdbot.sandbox.health import assess, ensemble_is_nve, thermostat_target
from mdbot.sandbox.logparse import ParsedLog, ThermoTable
from mdbot.sandbox.script import commands


def _log(columns, rows, atoms=100):
    return ParsedLog(tables=[ThermoTable(columns, rows, finished=True, steps=len(rows), atoms=atoms)])


def test_nve_drift_flagged_above_two_percent():
    cmds = commands("units lj\nfix 1 all nve\n")
    drifting = _log(["Step", "TotEng"], [[0, -4.0], [100, -4.2]])
    steady = _log(["Step", "TotEng"], [[0, -4.0], [100, -4.01]])
    assert "energy drift 5.0% in NVE" in assess(drifting, cmds).issues
    assert assess(steady, cmds).ok


def test_thermostat_target_and_ensemble():
    cmds = commands("variable T equal 300\nfix 1 all npt temp ${T} ${T} 100 iso 1 1 1000\nfix 2 all nve\n")
    assert thermostat_target(cmds) == 300
    assert not ensemble_is_nve(cmds)
    assert thermostat_target(commands("fix 1 all langevin 1.0 1.5 0.1 48279\n")) == 1.5


def test_temperature_far_from_target():
    """Far from the target over many damping times (6000 fs, Tdamp 100 fs) and not moving toward it."""
    cmds = commands("units real\nfix 1 all nvt temp 300 300 100\n")
    rows = [[i * 1000, t] for i, t in enumerate([300, 500, 520, 510, 505, 515, 512])]
    health = assess(_log(["Step", "Temp"], rows), cmds)
    assert any("far from the thermostat target 300" in i for i in health.issues)
    assert health.verdict == "broken" and not health.ok


def test_far_from_target_in_a_short_run_is_not_equilibrated_yet():
    """The same temperatures over 60 fs, under ten damping times: too short to judge, not a failure."""
    cmds = commands("units real\nfix 1 all nvt temp 300 300 100\n")
    rows = [[i * 10, t] for i, t in enumerate([300, 500, 520, 510, 505, 515, 512])]
    health = assess(_log(["Step", "Temp"], rows), cmds)
    assert health.ok and health.verdict == "equilibrating"
    assert "not equilibrated yet" in health.reason and "run longer" in health.reason


def test_settled_near_the_target_is_equilibrated_and_a_trend_toward_it_is_not():
    cmds = commands("units lj\nfix 1 all nvt temp 1.0 1.0 0.1\n")
    flat = [[i * 100, 1.0 + 0.02 * (-1) ** i] for i in range(20)]
    rising = [[i * 100, 0.5 + 0.02 * i] for i in range(20)]
    settled = assess(_log(["Step", "Temp"], flat), cmds)
    assert settled.verdict == "equilibrated" and "target 1" in settled.reason
    moving = assess(_log(["Step", "Temp"], rising), cmds)
    assert moving.ok and moving.verdict == "equilibrating"


def test_thermo_summary():
    from mdbot.sandbox.health import thermo_summary

    lines = thermo_summary(["Step", "Temp", "PotEng"], [[0, 1.5, -6.0], [10, 1.0, -5.0], [20, 1.2, -5.2]])
    assert lines[0].startswith("Temp 1.5 → 1.2 (last half: ") and lines[1].startswith("PotEng -6 → -5.2")


def test_pressure_blow_up_and_lost_atoms():
    cmds = commands("units lj\nfix 1 all nve\n")
    log = ParsedLog(
        tables=[
            ThermoTable(["Step", "Press"], [[0, 1.0], [10, 5e6]], finished=True, atoms=100),
            ThermoTable(["Step", "Press"], [[10, 1.0], [20, 1.0]], finished=True, atoms=90),
        ]
    )
    issues = " ".join(assess(log, cmds).issues)
    assert "pressure blew up during run 1" in issues
    assert "atom count dropped from 100 to 90" in issues
