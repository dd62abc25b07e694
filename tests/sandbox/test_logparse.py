"""Log parsing on real and hand-made logs."""

from __future__ import annotations

import math

from mdbot.sandbox.logparse import parse_file, parse_text, read_log

CRASHED = """\
LAMMPS (22 Jul 2025 - Update 4)
run 100
Per MPI rank memory allocation (min/avg/max) = 3.1 | 3.1 | 3.1 Mbytes
   Step          Temp          E_pair         TotEng         Press
         0   1.44          -6.7733681     -4.6134356     -5.0197073
WARNING: Pair style restartinfo set but has no restart support (src/pair.cpp:100)
        10   nan           -nan           inf            -inf
ERROR: Lost atoms: original 256 current 250 (src/thermo.cpp:494)
Last input line: run 100
"""


def test_reference_log_shipped_with_lammps(lammps):
    log = parse_file(lammps.bench_dir / "log.15Jul25.lj.fixed.g++.1")
    assert log.version and "2025" in log.version  # the reference was written by a 12 Jun 2025 build
    assert len(log.tables) == 1
    table = log.tables[0]
    assert table.columns == ["Step", "Temp", "E_pair", "E_mol", "TotEng", "Press"]
    assert table.rows[0] == [0, 1.44, -6.7733681, 0, -4.6134356, -5.0197073]
    assert table.finished and table.steps == 100 and table.atoms == 32000 and table.procs == 1
    assert log.final_step == 100
    assert log.timesteps_per_s and log.timesteps_per_s > 0
    assert log.error is None


def test_crashed_run_keeps_rows_with_nan_and_the_error():
    log = parse_text(CRASHED)
    assert len(log.tables) == 1 and not log.tables[0].finished
    assert len(log.tables[0].rows) == 2
    assert math.isnan(log.tables[0].rows[1][1]) and math.isinf(log.tables[0].rows[1][3])
    assert log.error.message == "Lost atoms: original 256 current 250"
    assert log.error.last_input == "run 100"
    assert log.warnings == ["Pair style restartinfo set but has no restart support"]


def test_multi_style_through_the_wheel_reader():
    text = (
        "Per MPI rank memory allocation (min/avg/max) = 3.1 | 3.1 | 3.1 Mbytes\n"
        "------------ Step              0 ----- CPU =            0 (sec) -------------\n"
        "TotEng   =        -4.6134 KinEng   =         2.1579 Temp     =         1.4400\n"
        "------------ Step             50 ----- CPU =     0.011 (sec) -------------\n"
        "TotEng   =        -4.6201 KinEng   =         1.1001 Temp     =         0.7341\n"
        "Loop time of 0.02 on 1 procs for 50 steps with 256 atoms\n"
    )
    log = parse_text(text)
    assert len(log.tables) == 1
    assert log.tables[0].column("Temp") == [1.44, 0.7341]
    assert log.tables[0].column("Step") == [0, 50]


def test_huge_log_is_read_head_and_tail(tmp_path):
    path = tmp_path / "log.lammps"
    path.write_text("LAMMPS (x)\n" + "print flood\n" * 2_000_000 + "ERROR: Something broke (src/a.cpp:1)\n")
    text = read_log(path, keep=1024 * 1024)
    assert len(text) < 3 * 1024 * 1024
    assert "bytes of log skipped" in text
    assert parse_text(text).error.message == "Something broke"
