"""CPT, SFT and GRPO, two optimizer steps each on CPU with the smoke profile (SmolLM2-135M + LoRA)."""

from __future__ import annotations

import json
import math

import pytest

from tests.conftest import requires_bwrap
from tests.finetune.conftest import SHORT_RUN
from tests.graph.fakes import GOOD_LJ

pytest.importorskip("trl")
SYSTEM = "You write LAMMPS input scripts. Reply with the complete script in one ```lammps block."
TASKS = [
    "Write a LAMMPS script for an LJ liquid at T*=1.5 in NVT",
    "Write a LAMMPS script for an fcc LJ crystal at T*=0.5",
]


@pytest.fixture
def dataset(tmp_path):
    d = tmp_path / "export"
    d.mkdir()

    def write(name, rows):
        (d / f"{name}.train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    write("cpt", [{"id": "1", "text": "fix nvt integrates with a Nose-Hoover thermostat; Tdamp is its damping time.", "kind": "manual"},
                  {"id": "2", "text": GOOD_LJ, "kind": "script"}])  # fmt: skip
    chat = lambda u, a: [  # noqa: E731
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": u},
        {"role": "assistant", "content": a},
    ]
    write("sft", [{"id": "s1", "kind": "code", "messages": chat(TASKS[0], f"```lammps\n{GOOD_LJ}```")}])
    write("recycled", [{"id": "r1", "kind": "repair", "messages": chat(TASKS[0] + "\nThis fails: fix 1 all nvt temperature", f"```lammps\n{GOOD_LJ}```")}])  # fmt: skip
    write("grpo", [{"id": f"g{i}", "task": t, "files": {}, "prompt": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": t}]}
                   for i, t in enumerate(TASKS)])  # fmt: skip
    return d


def _config(dataset, tmp_path, stage):
    from mdbot.finetune.config import load_config

    return load_config("cpu-smoke", data=dataset, out=tmp_path / f"out-{stage}", **SHORT_RUN)


def _reloads(adapter, model_cache):
    from peft import PeftModel

    from mdbot.finetune import models

    base, tokenizer, _ = models.load("smollm2-135m", model_cache)
    model = PeftModel.from_pretrained(base, str(adapter))
    ids = tokenizer("units lj", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=2, do_sample=False)
    return out.shape[1] == ids["input_ids"].shape[1] + 2


@pytest.mark.parametrize("stage", ["cpt", "sft"])
def test_cpt_and_sft_two_steps(stage, dataset, tmp_path, model_cache):
    from mdbot.finetune.train import train

    lines = []
    cfg = _config(dataset, tmp_path, stage)
    cfg.save_steps = 2 if stage == "sft" else 0
    report = train(stage, cfg, model_cache, echo=lines.append)
    assert (
        report.steps == 2
        and len(report.losses) == 2
        and all(math.isfinite(x) and x > 0 for x in report.losses)
    )
    assert report.examples == 2  # cpt: two texts; sft: the pair and the recycled repair
    assert any(f"{stage} step 2/2: loss" in line for line in lines)  # progress was reported
    assert (tmp_path / f"out-{stage}" / "adapter" / "adapter_config.json").is_file()
    assert "--enable-lora --lora-modules md-code=" in report.serve
    assert _reloads(report.adapter, model_cache)
    if stage == "sft":  # a checkpoint at step 2: a longer rerun into the same --out resumes there, not at 0
        from dataclasses import replace

        assert any("checkpoint at step 2" in line for line in lines)
        again = train(stage, replace(cfg, max_steps=3), model_cache, echo=lines.append)
        assert any("resuming from" in line and "checkpoint-2" in line for line in lines)
        assert (
            again.steps == 3 and len(again.losses) == 3
        )  # the log of steps 1-2 came back with the checkpoint


@requires_bwrap
def test_grpo_two_steps_with_sandbox_rewards_and_recycling(dataset, tmp_path, model_cache):
    from mdbot.finetune.train import train

    cfg = _config(dataset, tmp_path, "grpo")
    # The replies start with all of a runnable LJ input but its `run` line, so whatever 16 tokens the untrained
    # model samples (GRPO's LoRA has no dropout, which changes the samples), the reply parses as a script and
    # goes through the real sandbox: the test is about the reward path, not about what the model writes.
    cfg.prefill = "```lammps\n" + GOOD_LJ.replace("run 500\n", "")
    report = train("grpo", cfg, model_cache, echo=lambda line: None)
    assert report.steps == 2 and all(math.isfinite(x) for x in report.losses)
    r = report.rewards
    assert r["completions"] == 2 * 2  # 2 steps × a batch of 2 completions (one prompt, 2 generations)
    assert r["script_rate"] > 0  # completions became scripts and went through the real sandbox
    assert set(r["statuses"]) - {"no_script"}
    assert 0.0 <= r["mean"] <= 1.0
    out = tmp_path / "out-grpo"
    hard = [json.loads(x) for x in (out / "hard_prompts.jsonl").read_text().splitlines()]
    assert {h["task"] for h in hard} <= set(TASKS)
    assert (out / "recycled.train.jsonl").exists()
    log = json.loads((out / "metrics.json").read_text())["log"]
    assert any("reward" in entry for entry in log)
    assert _reloads(report.adapter, model_cache)


def test_recycling_turns_failed_siblings_into_repairs_and_lists_hard_prompts(tmp_path):
    from mdbot.finetune.config import load_config
    from mdbot.finetune.train import _recycle

    def h(task, reward, status, script, error=None):
        return {"task": task, "prompt": None, "reward": reward, "status": status, "script": script,
                "error": error, "components": {"check": 1.0 if status == "ok" else 0.0, "run": 1.0 if status == "ok" else 0.0}}  # fmt: skip

    class History:
        history = [
            h("solved", 1.0, "ok", GOOD_LJ),
            h("solved", 0.1, "check_error", "units lj\nfix 1 all nvt temperature 1 1 1\n",
              {"message": "Unknown fix nvt keyword: temperature", "command": "fix 1 all nvt temperature 1 1 1", "line": 2}),
            h("unsolved", 0.1, "check_error", "units lj\nbogus\n", {"message": "Unknown command: bogus"}),
            h("unsolved", 0.0, "no_script", None),
        ]  # fmt: skip

    stats = _recycle(History(), load_config("cpu-smoke"), tmp_path)
    assert stats["recycled"] == 1 and stats["hard_prompts"] == 1 and stats["completions"] == 4
    assert (
        stats["mean"] == pytest.approx(0.3)
        and stats["script_rate"] == 0.75
        and stats["run_pass_rate"] == 0.25
    )
    (repair,) = [json.loads(x) for x in (tmp_path / "recycled.train.jsonl").read_text().splitlines()]
    user, answer = repair["messages"][1]["content"], repair["messages"][2]["content"]
    assert "Unknown fix nvt keyword: temperature" in user and "temperature 1 1 1" in user
    assert answer == f"```lammps\n{GOOD_LJ.strip()}\n```" and repair["kind"] == "repair"
    (hard,) = [json.loads(x) for x in (tmp_path / "hard_prompts.jsonl").read_text().splitlines()]
    assert hard["task"] == "unsolved"
