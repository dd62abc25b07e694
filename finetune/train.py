"""The three training stages on exported data, each a LoRA adapter through PEFT and a TRL trainer.

- ``cpt``: causal-LM loss on ``cpt.train.jsonl`` (manual and lab text, scripts that ran healthily).
- ``sft``: TRL ``SFTTrainer`` on the chat pairs of ``sft.train.jsonl`` plus the repair examples of
  ``recycled.train.jsonl`` (failed script + error → the fix).
- ``grpo``: TRL ``GRPOTrainer`` on ``grpo.train.jsonl`` with :class:`finetune.rewards.ScriptReward`: several
  completions per prompt, each run in the sandbox. Afterwards the low-reward completions are recycled:
  where another completion of the same task scored well, (failed script + its error → the good script)
  becomes a repair example in ``<out>/recycled.train.jsonl`` for the next SFT round; tasks nobody solved are
  listed in ``<out>/hard_prompts.jsonl``.

Each stage writes ``<out>/adapter`` (and ``<out>/merged`` with ``merge``), ``<out>/metrics.json`` (the
trainer's log: loss, reward mean/std, pass rates) and returns the ``vllm serve`` line that serves it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Stage, TrainConfig

log = logging.getLogger(__name__)
INPUTS: dict[str, list[str]] = {"cpt": ["cpt"], "sft": ["sft", "recycled"], "grpo": ["grpo"]}


class NoData(ValueError):
    """The export has nothing for this stage; the message says what would produce some."""


@dataclass
class StageReport:
    stage: str
    steps: int
    examples: int
    losses: list[float]
    adapter: str
    merged: str | None
    serve: str
    base_model: str
    rewards: dict[str, Any] = field(default_factory=dict)
    main: bool = True  # rank 0 of a multi-process (accelerate) run: the one that writes and reports

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _records(data: Path, names: list[str]) -> list[dict]:
    out = []
    for name in names:
        path = data / f"{name}.train.jsonl"
        if path.is_file():
            out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


def _lora(cfg: TrainConfig, dropout: float | None = None):
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout if dropout is None else dropout,
        target_modules=cfg.lora.target_modules,
        task_type="CAUSAL_LM",
    )


def _common(cfg: TrainConfig, out: Path) -> dict[str, Any]:
    import torch

    return {
        "output_dir": str(out / "checkpoints"),
        "max_steps": cfg.max_steps,
        "per_device_train_batch_size": cfg.batch_size,
        "gradient_accumulation_steps": cfg.grad_accum,
        "learning_rate": cfg.learning_rate,
        "logging_steps": cfg.logging_steps,
        "save_strategy": "steps" if cfg.save_steps else "no",
        "save_steps": cfg.save_steps or 500,
        "save_total_limit": 2,
        "report_to": "none",
        "seed": cfg.seed,
        "bf16": cfg.bf16,
        "gradient_checkpointing": cfg.gradient_checkpointing,
        "use_cpu": not torch.cuda.is_available(),
        "disable_tqdm": True,
    }


class _Progress:
    """A TrainerCallback that prints one line per log event (loss, reward, time per step and time left) to
    stderr, and one per checkpoint saved."""

    def __init__(self, stage: str, echo: Callable[[str], None]):
        import time

        from transformers import TrainerCallback

        outer = self

        class Callback(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                outer.t0, outer.step0 = time.perf_counter(), state.global_step

            def on_log(self, args, state, control, logs=None, **kwargs):
                logs = logs or {}
                keys = ("loss", "reward", "reward_std", "learning_rate")
                shown = ", ".join(f"{k} {logs[k]:.4g}" for k in keys if isinstance(logs.get(k), int | float))
                done = state.global_step - outer.step0
                if shown and done > 0:
                    per = (time.perf_counter() - outer.t0) / done
                    left = per * max(state.max_steps - state.global_step, 0)
                    shown += f"; {per:.1f} s/step, {left / 60:.1f} min left"
                if shown:
                    outer.echo(f"{outer.stage} step {state.global_step}/{state.max_steps}: {shown}")

            def on_save(self, args, state, control, **kwargs):
                outer.echo(f"{outer.stage}: checkpoint at step {state.global_step} in {args.output_dir}")

        self.stage, self.echo, self.callback = stage, echo, Callback()
        self.t0, self.step0 = time.perf_counter(), 0


def train(
    stage: Stage, cfg: TrainConfig, data_dir: Path, echo: Callable[[str], None] | None = None
) -> StageReport:
    """Run one stage; ``data_dir`` is mdbot's data directory (the prepared smoke model is cached there)."""
    echo = echo or (lambda line: print(line, file=sys.stderr, flush=True))
    records = _records(cfg.data, INPUTS[stage])
    if not records:
        raise NoData(
            f"no {stage} examples in {cfg.data} ({', '.join(f'{n}.train.jsonl' for n in INPUTS[stage])}); "
            "run `mdbot finetune export` after the bot has answered, run scripts and received 👍"
        )
    import os

    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")  # stdout carries the --json report
    from . import models

    model, tokenizer, base_path = models.load(cfg.base_model, data_dir, cfg.bf16)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    progress = _Progress(stage, echo)
    echo(
        f"{stage}: {len(records)} example(s), base {cfg.base_model}, {cfg.max_steps} step(s), profile {cfg.profile}"
    )
    reward = None
    if stage == "grpo":
        trainer, reward = _grpo_trainer(cfg, model, tokenizer, records, out, progress)
    else:
        trainer = _sft_trainer(stage, cfg, model, tokenizer, records, out, progress)
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # stdout is for the result; progress goes to ``echo``
    resume = last_checkpoint(out) if cfg.resume else None
    if resume:
        echo(f"{stage}: resuming from {resume}")
    trainer.train(resume_from_checkpoint=resume)
    accelerator = getattr(trainer, "accelerator", None)
    main = accelerator is None or accelerator.is_main_process
    adapter = out / "adapter"
    serve = serve_line(base_path, cfg.adapter_name, adapter, cfg.lora.r)
    losses = [float(h["loss"]) for h in trainer.state.log_history if "loss" in h]
    merged, rewards = None, {}
    if main:  # other ranks: the adapter, metrics and recycled data are rank 0's to write
        trainer.model.save_pretrained(str(adapter))
        tokenizer.save_pretrained(str(adapter))
        (out / "metrics.json").write_text(
            json.dumps(
                {"stage": stage, "config": cfg.to_dict(), "log": trainer.state.log_history},
                indent=1,
                default=str,
            )
        )
        if cfg.merge:
            merged = str(out / "merged")
            trainer.model.merge_and_unload().save_pretrained(merged)
            tokenizer.save_pretrained(merged)
        if reward is not None:
            rewards = _recycle(reward, cfg, out)
    steps = trainer.state.global_step
    return StageReport(
        stage, steps, len(records), losses, str(adapter), merged, serve, base_path, rewards, main
    )


def last_checkpoint(out: Path) -> str | None:
    """The newest complete ``<out>/checkpoints/checkpoint-N`` of an interrupted run, if any."""
    folder = Path(out) / "checkpoints"
    if not folder.is_dir():
        return None
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(folder))


def serve_line(base: str, name: str, adapter: Path, rank: int) -> str:
    return f"vllm serve {base} --enable-lora --lora-modules {name}={adapter.resolve()} --max-lora-rank {max(rank, 8)}"


def _sft_trainer(stage, cfg, model, tokenizer, records, out, progress):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    if stage == "cpt":
        data = Dataset.from_list([{"text": r["text"]} for r in records if r.get("text")])
        extra = {"dataset_text_field": "text", "completion_only_loss": False}
    else:
        data = Dataset.from_list([{"messages": r["messages"]} for r in records if r.get("messages")])
        extra = {}
    args = SFTConfig(**_common(cfg, out), max_length=cfg.max_length, packing=False, **extra)
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=data,
        processing_class=tokenizer,
        peft_config=_lora(cfg),
        callbacks=[progress.callback],
    )


def _grpo_trainer(cfg, model, tokenizer, records, out, progress):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from .rewards import ScriptReward

    rows = []
    for r in records:
        prompt: Any = list(r["prompt"])
        if cfg.prefill:
            # The reply starts with the prefill (a format nudge for small models). TRL renders chat prompts
            # with a fresh assistant turn, so the prompt is rendered here, continuing the prefill, and the
            # reward is told the prefill so it scores the whole reply.
            prompt = tokenizer.apply_chat_template(
                [*prompt, {"role": "assistant", "content": cfg.prefill}],
                tokenize=False,
                continue_final_message=True,
            )
        rows.append(
            {"prompt": prompt, "task": r.get("task", ""), "prefill": cfg.prefill,
             "files": json.dumps(_local_files(r.get("files") or {}, cfg.data))}
        )  # fmt: skip
    reward = ScriptReward(weights=cfg.reward, workers=cfg.reward_workers, timeout_s=cfg.reward_timeout_s)
    use_vllm = cfg.use_vllm and importlib.util.find_spec("vllm") is not None
    if cfg.use_vllm and not use_vllm:
        log.warning("vLLM is not installed: GRPO generates with transformers (pip install vllm for speed)")
    args = GRPOConfig(
        **_common(cfg, out),
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length,
        temperature=cfg.temperature,
        beta=cfg.beta,
        use_vllm=use_vllm,
        log_completions=False,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[reward],
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        # No LoRA dropout in GRPO: TRL samples the completions with the model in training mode, so dropout
        # ran on every generated token (24 s of a 515 s CPU step, profiled) and the policy that sampled
        # differed from the one scored. The rewards and advantages are the regularizer here.
        peft_config=_lora(cfg, dropout=0.0),
        callbacks=[progress.callback],
    )
    return trainer, reward


def _local_files(files: dict[str, str], data: Path) -> dict[str, str]:
    """Attached files of a GRPO prompt. The export copies them into ``<export>/files/<hash>/<name>`` and
    records absolute paths; an export moved to another machine is found again under ``data``."""
    out = {}
    for name, path in files.items():
        p = Path(path) if path else None
        if p is not None and not p.is_file() and "/files/" in str(p):
            p = data / "files" / str(p).split("/files/", 1)[1]
        if p is not None and p.is_file():
            out[name] = str(p)
        else:
            log.warning("GRPO: attached file %s (%s) is missing; scripts that read it will fail", name, path)
    return out


def _recycle(reward, cfg: TrainConfig, out: Path) -> dict[str, Any]:
    """Low-reward completions become repair examples (when a sibling completion solved the task) or hard
    prompts; returns reward statistics for the report."""
    from .formats import format_error, repair_example

    history = reward.history
    values = [h["reward"] for h in history]
    by_task: dict[str, list[dict]] = {}
    for h in history:
        by_task.setdefault(h["task"], []).append(h)
    repairs, hard = [], []
    for task, items in by_task.items():
        best = max(items, key=lambda h: h["reward"])
        for h in items:
            if h["reward"] >= cfg.recycle_below or not h["script"]:
                continue
            if best["reward"] >= cfg.recycle_below and best["script"] and best["script"] != h["script"]:
                problem = format_error(h.get("error"), [] if h.get("error") else [f"status {h['status']}"])
                example = repair_example(task, h["script"], problem, best["script"])
                repairs.append({"id": f"grpo-repair-{len(repairs)}", **example})
        if best["reward"] < cfg.recycle_below:
            hard.append({"task": task, "best_reward": best["reward"], "status": best["status"]})
    (out / "recycled.train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in repairs))
    (out / "hard_prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in hard))
    mean = sum(values) / len(values) if values else 0.0
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) if values else 0.0
    statuses = [h["status"] for h in history]
    return {
        "completions": len(values),
        "mean": round(mean, 4),
        "std": round(std, 4),
        "script_rate": round(sum(s != "no_script" for s in statuses) / len(statuses), 3) if statuses else 0.0,
        "check_pass_rate": round(sum(h["components"].get("check") == 1.0 for h in history) / len(history), 3)
        if history
        else 0.0,
        # ran to completion with time advancing (a set-up-only script that "runs" does not count)
        "run_pass_rate": round(sum(h["components"].get("run") == 1.0 for h in history) / len(history), 3)
        if history
        else 0.0,
        "statuses": {s: statuses.count(s) for s in sorted(set(statuses))},
        "recycled": len(repairs),
        "hard_prompts": len(hard),
    }
