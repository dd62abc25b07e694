"""MD-GRPO's reward: run the generated LAMMPS script and score how far it got (docs/architecture.md §4, §8).

    reward = Σ wᵢ·cᵢ / Σ wᵢ   over the enabled components, each cᵢ ∈ [0, 1]:
      format  1 for exactly one fenced LAMMPS block, 0.5 for a script found another way (no fence, several
              blocks), 0 for none — and then the reward is 0;
      check   the policy and LAMMPS's dry run (``sandbox.check``) pass — a refusal (``shell``, paths out of
              the job: a hostile script) makes the whole reward 0;
      run     ``sandbox.run`` completes without a LAMMPS error within the time limit, and time advanced (a
              ``run`` or ``minimize`` happened: a script that sets up nothing earns no run credit);
      health  the run's physical sanity verdict (no NaN, lost atoms, drift, blow-up): 1 ok, else 0;
      judge   optional: a judge model's task-completion score / 10 (weight 0 unless a judge is given).
    Default weights: format 0.1, check 0.2, run 0.4, health 0.3, judge 0 (0.3 when a judge is used).

Later components need earlier ones (no run without a passing check), so the reward is monotone in how far
a script gets. Scripts run in the real sandbox, several at once (a thread pool: each job is a subprocess),
with a per-run timeout; identical (script, files, task) triples are scored once (a GRPO group often
repeats a completion). Job directories are removed after scoring unless ``keep_jobs``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class RewardWeights:
    format: float = 0.1
    check: float = 0.2
    run: float = 0.4
    health: float = 0.3
    judge: float = 0.0


@dataclass
class RewardResult:
    reward: float
    components: dict[str, float | None]
    status: str  # the run's status, or "no_script" / "rejected" / the check's status when it stopped there
    error: dict | None = None  # the sandbox's error (message, command, line, hint) when there was one
    script: str | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("script")
        return d


def completion_text(completion: Any) -> str:
    """TRL passes a completion as text, or in conversational datasets as [{"role", "content"}, …]."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence):
        return "\n".join(str(m.get("content", "")) for m in completion if isinstance(m, Mapping))
    return str(completion)


def _prefill(prompt: Any) -> str:
    """A conversational prompt may end with the start of the assistant's reply; it is part of the answer."""
    if isinstance(prompt, Sequence) and not isinstance(prompt, str) and prompt:
        last = prompt[-1]
        if isinstance(last, Mapping) and last.get("role") == "assistant":
            return str(last.get("content", ""))
    return ""


def find_script(text: str) -> tuple[str | None, float]:
    """(script, format score): exactly one fenced LAMMPS block scores 1, a script found otherwise 0.5."""
    from mdbot.graph.intent import code_blocks, extract_script, looks_like_lammps

    blocks = [b for b in code_blocks(text) if looks_like_lammps(b)]
    if not blocks and text.lstrip().startswith("```"):  # an opened fence the generation never closed
        text = text.lstrip().split("\n", 1)[-1] if "\n" in text else ""
    script = extract_script(text)
    if script is None:
        return None, 0.0
    return script, 1.0 if len(blocks) == 1 else 0.5


@dataclass
class ScriptReward:
    """Callable as a TRL reward function: ``reward(prompts, completions, **columns) -> list[float]``.

    Dataset columns ``task`` (the request, for the judge), ``files`` ({name: path} staged into each job) and
    ``prefill`` (the start of the reply that the prompt already contains) arrive as keyword lists, one entry
    per completion."""

    weights: RewardWeights = field(default_factory=RewardWeights)
    sandbox: Any = None  # sandbox.settings.SandboxSettings; default from the environment
    workers: int = 2
    timeout_s: float = 60.0
    judge: Any = None  # a chat model (langchain) for task fidelity, or None
    keep_jobs: bool = False
    cache_size: int = 4096
    __name__: str = "lammps_execution"  # TRL logs rewards under the function's name

    def __post_init__(self) -> None:
        if self.sandbox is None:
            from mdbot.sandbox.settings import SandboxSettings

            self.sandbox = SandboxSettings()
        if self.judge is not None and not self.weights.judge:
            self.weights.judge = 0.3
        self._cache: OrderedDict[str, RewardResult] = OrderedDict()
        self._lock = threading.Lock()
        self.history: list[dict] = []  # every scored completion of this run (for recycling)

    # ------------------------------------------------------------------------------------------ TRL
    def __call__(self, prompts=None, completions=None, **columns) -> list[float]:
        completions = list(completions or [])
        tasks = columns.get("task") or [""] * len(completions)
        files = [
            json.loads(f) if isinstance(f, str) else f
            for f in columns.get("files") or [{}] * len(completions)
        ]
        prefills = columns.get("prefill") or [_prefill(p) for p in prompts or [None] * len(completions)]
        texts = [(pre or "") + completion_text(c) for pre, c in zip(prefills, completions, strict=False)]
        results = self.score_many(texts, tasks, files)
        for prompt, task, result in zip(prompts or [None] * len(results), tasks, results, strict=False):
            self.history.append(
                {"task": task, "prompt": prompt, "reward": result.reward, "status": result.status,
                 "error": result.error, "script": result.script, "components": result.components}
            )  # fmt: skip
        return [r.reward for r in results]

    def score_many(
        self, completions: list[str], tasks: list[str], files: list[Mapping[str, str] | None]
    ) -> list[RewardResult]:
        with ThreadPoolExecutor(max(1, self.workers)) as pool:
            return list(pool.map(self.score, completions, tasks, files))

    # ------------------------------------------------------------------------------------------ one
    def score(self, completion: str, task: str = "", files: Mapping[str, str] | None = None) -> RewardResult:
        files = dict(files or {})
        script, fmt = find_script(completion)
        if script is None:
            return self._result({"format": 0.0}, "no_script", None, None)
        parts = [script, task if self.weights.judge else "", *sorted(f"{k}={v}" for k, v in files.items())]
        key = hashlib.sha256("\0".join(parts).encode()).hexdigest()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
        if hit is None:
            try:
                hit = self._execute(script, task, files)
            except Exception as exc:  # noqa: BLE001 - one broken job must not end a training run
                log.exception("reward: the sandbox failed on a completion")
                return self._result(
                    {"format": fmt}, "internal_error", {"message": f"{type(exc).__name__}: {exc}"}, script
                )
            with self._lock:
                self._cache[key] = hit
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        comps, status, error = hit
        return self._result({**comps, "format": fmt}, status, error, script)

    def _execute(self, script: str, task: str, files: dict[str, str]) -> tuple[dict, str, dict | None]:
        """Check, then run: (components other than format, status, error)."""
        from mdbot.sandbox.jobs import JobInputError, check, run

        comps: dict[str, float | None] = {"check": 0.0, "run": 0.0, "health": 0.0}
        staged = [Path(p) for p in files.values() if p and Path(p).is_file()]  # older datasets pad with None
        workdirs: list[str] = []
        try:
            try:
                checked = check(script, staged, settings=self.sandbox)
            except JobInputError as exc:
                return comps, "bad_input", {"message": str(exc)}
            workdirs.append(checked.workdir or "")
            if checked.status == "rejected":  # the policy refused it: hostile or out of bounds
                return comps, "rejected", _err(checked)
            if checked.status != "ok":
                return comps, f"check_{checked.status}", _err(checked)
            comps["check"] = 1.0
            ran = run(script, staged, settings=self.sandbox, timeout=self.timeout_s, pictures_ok=False)
            workdirs.append(ran.workdir or "")
            if ran.status == "ok" and _advanced(ran):  # it ran, and time advanced
                comps["run"] = 1.0
                comps["health"] = 1.0 if ran.health.ok else 0.0
            if self.weights.judge and self.judge is not None and ran.status == "ok":
                comps["judge"] = self._judge(task, script)
            return comps, ran.status, _err(ran)
        finally:
            if not self.keep_jobs:
                for w in workdirs:
                    if w:
                        shutil.rmtree(w, ignore_errors=True)

    def _judge(self, task: str, script: str) -> float | None:
        """Task fidelity 0–1 from the judge model (the graph's JudgeVerdict schema); None if it fails."""
        from langchain_core.messages import HumanMessage, SystemMessage

        from mdbot.graph.critique import JudgeVerdict
        from mdbot.graph.models import ask_structured

        try:
            verdict = ask_structured(
                self.judge,
                JudgeVerdict,
                [
                    SystemMessage("Grade how well the LAMMPS script does the task. task_completion 0-10."),
                    HumanMessage(f"Task: {task}\n\nScript:\n{script}"),
                ],
            )
        except Exception as exc:  # noqa: BLE001 - a judge outage scores nothing, it does not stop training
            log.warning("judge failed: %s", exc)
            return None
        if verdict is None:
            return None
        return 0.0 if verdict.does_other_task else verdict.task_completion / 10

    def _result(self, comps: dict, status: str, error: dict | None, script: str | None) -> RewardResult:
        """Weighted mean of the components; 0 without a script and for a script the policy refused."""
        weights = asdict(self.weights)
        used = {n: w for n, w in weights.items() if w and (n != "judge" or comps.get("judge") is not None)}
        total = sum(used.values())
        value = sum(w * (comps.get(n) or 0.0) for n, w in used.items())
        zero = status in ("no_script", "rejected") or not comps.get("format")
        reward = 0.0 if zero or not total else round(value / total, 4)
        full = {n: comps.get(n, 0.0 if n != "judge" else None) for n in weights}
        if not weights["judge"]:
            full["judge"] = None
        return RewardResult(reward=reward, components=full, status=status, error=error, script=script)


def _advanced(result) -> bool:
    """Whether a run or minimize took at least one step: some thermo table's Step grew (``run 0`` and a
    script without any run print at most one row per table)."""
    for table in result.thermo:
        if "Step" in table.columns and len(table.rows) >= 2:
            i = table.columns.index("Step")
            first, last = table.rows[0][i], table.rows[-1][i]
            if first is not None and last is not None and last > first:
                return True
    return False


def _err(result) -> dict | None:
    return result.error.model_dump() if result.error is not None else None
