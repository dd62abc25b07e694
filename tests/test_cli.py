"""The command line: exit codes, one JSON document on stdout, clear messages for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mdbot.cli import app
from tests.conftest import requires_bwrap

MDBOT = Path(sys.executable).with_name("mdbot")


@pytest.fixture
def cli_env(data_dir, monkeypatch):
    monkeypatch.setenv("MDBOT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MDBOT_PICTURES", "false")
    return {**os.environ, "MDBOT_DATA_DIR": str(data_dir), "MDBOT_PICTURES": "false"}


@requires_bwrap
def test_run_lj_benchmark_json_through_the_installed_command(cli_env, lammps):
    proc = subprocess.run(
        [str(MDBOT), "run", str(lammps.bench_dir / "in.lj"), "--json"],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=3600,  # a hang guard only: a loaded machine must not decide the test
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # exactly one JSON document
    assert doc["status"] == "ok" and doc["final_step"] == 100
    assert doc["thermo"][0]["rows"][-1][1] == 0.7574531


@requires_bwrap
def test_failed_simulation_is_still_exit_zero(cli_env, tmp_path):
    script = tmp_path / "in.bad"
    script.write_text("units lj\nfix 1 all nvx\n")
    result = CliRunner().invoke(app, ["run", str(script), "--json"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["status"] == "error" and doc["error"]["line"] == 2


@requires_bwrap
def test_check_human_output_shows_line_and_hint(cli_env, tmp_path):
    script = tmp_path / "in.bad"
    script.write_text("units lj\natom_style atomic\npair_styl lj/cut 2.5\n")
    result = CliRunner().invoke(app, ["check", str(script)])
    assert result.exit_code == 0
    assert "line 3" in result.stdout and "pair_style" in result.stdout


def test_policy_rejection_exit_zero_with_status_rejected(cli_env, tmp_path):
    script = tmp_path / "in.evil"
    script.write_text("units lj\nshell cat /etc/passwd\n")
    result = CliRunner().invoke(app, ["run", str(script), "--json"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["status"] == "rejected" and doc["error"]["line"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "does-not-exist.in"], "script not found"),
        (["run", "{script}", "--np", "0"], "--np must be between 1"),
        (["run", "{script}", "--timeout", "-1"], "--timeout must be more than 0 and at most"),
        (["run", "{script}", "--timeout", "0"], "--timeout must be more than 0 and at most"),
        (["run", "units lj"], "expect the path of an input script file"),
        (["run", "{script}", "--file", "missing.data"], "input file not found"),
        (["check", "{binary}"], "binary file"),
        (["check", "{empty}"], "empty"),
    ],
)
def test_bad_input_exit_two_with_clear_message(cli_env, tmp_path, args, message):
    script = tmp_path / "in.ok"
    script.write_text("units lj\n")
    binary = tmp_path / "in.bin"
    binary.write_bytes(b"\x7fELF\x00\x01\x02")
    empty = tmp_path / "in.empty"
    empty.write_text("  \n")
    argv = [a.format(script=script, binary=binary, empty=empty) for a in args]
    result = CliRunner().invoke(app, [*argv, "--json"])
    assert result.exit_code == 2
    assert message in result.stderr
    assert json.loads(result.stdout)["status"] == "usage_error"


def test_unknown_option_is_usage_error():
    result = CliRunner().invoke(app, ["run", "--bogus"])
    assert result.exit_code == 2


def test_help_lists_commands():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "run" in result.stdout and "check" in result.stdout


@requires_bwrap
def test_chat_reads_a_pasted_code_block_as_one_message(cli_env, tmp_path):
    script = (
        "units lj\natom_style atomic\nlattice fcc 0.8442\nregion box block 0 4 0 4 0 4\ncreate_box 1 box\n"
    )
    script += "create_atoms 1 box\nmass 1 1.0\npair_style lj/cut 2.5\npair_coeff 1 1 1.0 1.0 2.5\n"
    script += "fix 1 all nve\nthermo 10\nrun 20\n"
    proc = subprocess.run(
        [str(MDBOT), "chat"],
        input=f"```\n{script}```\n/good works\n/quit\n",
        capture_output=True,
        text=True,
        env=cli_env,
        cwd=tmp_path,  # no developer .env: offline
        timeout=3600,  # a hang guard only: a loaded machine must not decide the test
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("intent run · success") == 1 and "intent qa" not in proc.stdout
    assert "stored in the journal" in proc.stdout
