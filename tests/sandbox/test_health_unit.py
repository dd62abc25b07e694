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
    cmds = commands("units real\nfix 1 all nvt temp 300 300 100\n")
    rows = [[i * 10, t] for i, t in enumerate([300, 500, 520, 510, 505, 515])]
    issues = assess(_log(["Step", "Temp"], rows), cmds).issues
    assert any("far from the thermostat target 300" in i for i in issues)


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
