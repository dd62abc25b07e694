"""The GRPO reward from real sandbox runs: good, broken, unhealthy, idle and hostile scripts."""

from __future__ import annotations

import json

import pytest

from mdbot.finetune.rewards import RewardWeights, ScriptReward, find_script
from tests.conftest import requires_bwrap
from tests.graph.fakes import BROKEN_LJ, GOOD_LJ


def fenced(script: str) -> str:
    return f"Here you go:\n```lammps\n{script.strip()}\n```\n"


@pytest.fixture
def reward(settings):
    # runs take seconds; the limit is not the point of these tests, so a loaded machine cannot reach it
    return ScriptReward(sandbox=settings, workers=2, timeout_s=600)


def test_format_score():
    assert find_script(fenced(GOOD_LJ))[1] == 1.0
    assert find_script(GOOD_LJ)[1] == 0.5  # no fence
    assert find_script(fenced(GOOD_LJ) + fenced(GOOD_LJ))[1] == 0.5  # two blocks
    assert find_script("I cannot help with that.") == (None, 0.0)
    assert find_script("```lammps\n" + GOOD_LJ)[0].startswith("units lj")  # fence never closed


@requires_bwrap
def test_rewards_by_how_far_the_script_gets(reward):
    w = RewardWeights()
    total = w.format + w.check + w.run + w.health
    good = reward.score(fenced(GOOD_LJ), "LJ liquid NVT")
    assert good.reward == 1.0 and good.status == "ok"
    assert good.components == {"format": 1.0, "check": 1.0, "run": 1.0, "health": 1.0, "judge": None}
    broken = reward.score(fenced(BROKEN_LJ))
    assert broken.status == "check_error" and broken.reward == pytest.approx(w.format / total)
    assert "temperature" in broken.error["message"]
    hot = GOOD_LJ.replace("velocity all create 1.5 87287", "velocity all create 1e7 87287")
    unhealthy = reward.score(fenced(hot))
    assert unhealthy.status == "ok" and unhealthy.components["health"] == 0.0
    assert unhealthy.reward == pytest.approx((w.format + w.check + w.run) / total)
    idle = reward.score(fenced("units lj\natom_style atomic\nregion b block 0 1 0 1 0 1\ncreate_box 1 b\n"))
    assert idle.components["check"] == 1.0 and idle.components["run"] == 0.0  # nothing ran: no run credit
    zero = reward.score(fenced(GOOD_LJ.replace("run 500", "run 0")))
    assert zero.status == "ok" and zero.components["run"] == 0.0  # `run 0` does not advance time
    assert zero.reward == pytest.approx((w.format + w.check) / total)
    assert reward.score("no script at all").reward == 0.0


@requires_bwrap
def test_hostile_scripts_are_contained_and_score_zero(reward, tmp_path):
    marker = tmp_path / "pwned"
    shell = reward.score(fenced(f"units lj\natom_style atomic\nshell touch {marker}\n"))
    assert shell.reward == 0.0 and shell.status == "rejected"
    # built at run time, past the static policy: the sandbox holds, the reward is what the run earned
    sneaky = (
        'units lj\natom_style atomic\nvariable c string "sh"\nvariable d string "ell"\n${c}${d} touch '
        + str(marker)
        + "\n"
    )
    result = reward.score(fenced(sneaky))
    assert not marker.exists()
    assert result.components["run"] == 0.0


@requires_bwrap
def test_trl_call_signature_cache_and_files(reward, tmp_path, settings):
    data = tmp_path / "data.lj"
    data.write_text(
        "LAMMPS data\n\n1 atoms\n1 atom types\n\n0 5 xlo xhi\n0 5 ylo yhi\n0 5 zlo zhi\n\nMasses\n\n1 1.0\n\nAtoms # atomic\n\n1 1 1 1 1\n"
    )
    script = "units lj\natom_style atomic\nread_data data.lj\npair_style lj/cut 2.5\npair_coeff 1 1 1 1\nfix 1 all nve\nrun 10\n"
    prompt = [
        {"role": "user", "content": "run it"},
        {"role": "assistant", "content": "```lammps\nunits lj\n"},
    ]
    rest = script.split("\n", 1)[1] + "```"
    values = reward(
        prompts=[prompt, prompt, prompt],
        completions=[[{"role": "assistant", "content": rest}]] * 2
        + [[{"role": "assistant", "content": "hm"}]],
        task=["t"] * 3,
        files=[json.dumps({"data.lj": str(data)})] * 3,
    )
    assert values[0] == values[1] == 1.0  # the prefill is part of the reply; the data file was staged
    assert values[2] < 1.0
    assert len(reward.history) == 3 and reward.history[0]["status"] == "ok"
    jobs = list((settings.data_dir / "jobs").glob("*")) if (settings.data_dir / "jobs").exists() else []
    assert not [j for j in jobs if j.is_dir() and (j / "in.lammps").exists()]  # job directories removed
