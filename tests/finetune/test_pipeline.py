"""The learning loop end to end, as an operator runs it: real graph turns fill a journal, then
``mdbot finetune export`` → ``cpt`` → ``sft`` → ``grpo`` (smoke profile, one optimizer step each: that the
exported files train, not how they train, which tests/finetune/test_train.py shows with two steps and a
resume). Export runs as the installed command in a subprocess; the training stages go through the same
command line in this process, so no further process imports the training libraries and loads the model."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import requires_bwrap
from tests.finetune.conftest import SHORT_RUN
from tests.graph.fakes import BROKEN_LJ, GOOD_LJ, lammps, model

pytest.importorskip("trl")
MDBOT = Path(sys.executable).with_name("mdbot")
TASK = "write a LAMMPS script for an LJ liquid at T*=1.5 in NVT"


def _mdbot(*args: str, data_dir: Path, cwd: Path) -> dict:
    """The installed command in its own process, as an operator runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDBOT_")}
    env |= {"MDBOT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    # an hour: a hang guard only (a stage takes well under a minute here, minutes on a loaded machine)
    proc = subprocess.run(
        [str(MDBOT), *args, "--json"], cwd=cwd, env=env, capture_output=True, text=True, timeout=3600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)  # exactly one JSON document


def _in_process(*args: str, data_dir: Path, monkeypatch) -> dict:
    """The same command line in this process: torch, transformers and TRL are imported once, not per stage."""
    from typer.testing import CliRunner

    from mdbot.cli import app

    monkeypatch.setenv("MDBOT_DATA_DIR", str(data_dir))
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, (result.stderr or "")[-3000:]
    return json.loads(result.stdout)  # exactly one JSON document


@requires_bwrap
def test_export_cpt_sft_grpo_end_to_end(make_brain, model_cache, tmp_path, monkeypatch):
    # a repaired generate turn (→ sft code pair, cpt script, recycled repair, grpo prompt), rated 👍
    brain = make_brain(code=model(lammps(BROKEN_LJ), lammps(GOOD_LJ)), retrieval=False)
    turn = brain.ask(TASK, user_id="UALICE", channel="CLAB", source="slack")
    assert turn.outcome == "success"
    brain.feedback(turn.turn_id, 1, "UBOB")
    journal = brain.settings.journal_url

    export = tmp_path / "export"
    manifest = _mdbot("finetune", "export", "--out", str(export), "--journal", journal, "--no-knowledge",
                      "--heldout", "0", data_dir=model_cache, cwd=tmp_path)  # fmt: skip
    counts = manifest["counts"]
    assert counts["sft"]["train"] >= 1 and counts["grpo"]["train"] >= 1 and counts["recycled"]["train"] >= 1
    assert counts["cpt"]["train"] >= 1
    assert "UALICE" not in "".join(p.read_text() for p in export.glob("*.jsonl"))  # users stripped

    # An operator's own settings file on top of the cpu-smoke profile: the training tests' shorter run.
    config = tmp_path / "short.yaml"
    config.write_text("".join(f"{key}: {value}\n" for key, value in SHORT_RUN.items()))
    reports = {}
    for stage in ("cpt", "sft", "grpo"):
        args = ("finetune", stage, "--data", str(export), "--out", str(tmp_path / stage), "--max-steps", "1",
                "--config", str(config))  # fmt: skip
        reports[stage] = r = _in_process(*args, data_dir=model_cache, monkeypatch=monkeypatch)
        assert r["steps"] == 1 and len(r["losses"]) == 1 and math.isfinite(r["losses"][0])
        assert Path(r["adapter"], "adapter_model.safetensors").is_file()
        used = json.loads((tmp_path / stage / "metrics.json").read_text())["config"]
        assert {key: used[key] for key in SHORT_RUN} == SHORT_RUN  # the file was read
        assert (
            r["serve"].startswith("vllm serve ") and f"md-code={tmp_path / stage / 'adapter'}" in r["serve"]
        )
    rewards = reports["grpo"]["rewards"]
    assert rewards["completions"] == 2 and 0.0 <= rewards["mean"] <= 1.0  # every completion was scored
    # (that the smoke model's completions reach the sandbox is shown in test_train with fixed prompts)
