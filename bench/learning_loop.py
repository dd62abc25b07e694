"""The learning loop on a real model, before and after, measured on held-out tasks (issue 19).

    .venv/bin/python bench/learning_loop.py [--work DIR] [--smoke] [--json]      # or: make learning-loop

1. ``mdbot finetune export --corpus ../shared/corpora/lammps-scripts`` (no journal, no knowledge base): SFT
   pairs and GRPO prompts from the example scripts, split held out by source directory, and the held-out
   runnable examples as an MD-EvalBench-format task file (never trained on).
2. ``mdbot finetune sft`` on the short training pairs (scripts a 135M model can write within its context),
   merged; checkpoints every ``--save-steps``, so an interrupted run resumes where it stopped.
3. ``mdbot finetune grpo`` from the SFT model with the sandbox reward, merged.
4. ``mdbot eval code`` on the first ``--tasks`` held-out tasks (shortest references first) for the base
   model, after SFT and after GRPO, in direct and loop modes, each served the same way: an OpenAI-compatible
   endpoint on 127.0.0.1 (tests/graph/openai_server.py's HTTP server, the real protocol) whose replies come
   from ``transformers`` generation with the model the request names. No judge: fidelity is by rules.

Prints one table (ExecSucc@1/@k, health pass rate, fidelity, calls per task) and writes
``<work>/learning_loop.json``. Every step is skipped when its output is already there, so a rerun after an
interruption carries on (training resumes from its last checkpoint). ``--smoke`` is a few-minute version
(tiny step counts, two tasks) that proves the path, not the learning.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.graph.openai_server, when run as a script

FULL = {"sft_steps": 300, "grpo_steps": 40, "generations": 4, "completion": 256, "tasks": 12, "attempts": 3,
        "max_tokens": 384, "max_length": 768, "save_steps": 25}  # fmt: skip
SMOKE = {"sft_steps": 4, "grpo_steps": 2, "generations": 2, "completion": 96, "tasks": 2, "attempts": 2,
         "max_tokens": 128, "max_length": 512, "save_steps": 2}  # fmt: skip
MAX_SCRIPT_CHARS = 1600  # SFT/GRPO on scripts short enough to be written whole in max_length tokens


def mdbot(args: list[str], env: dict, log: Path) -> dict | None:
    """One mdbot command (the installed CLI, a real process); its --json document, stderr to ``log``."""
    with log.open("a") as err:
        err.write(f"\n$ mdbot {' '.join(args)}\n")
        err.flush()
        done = subprocess.run([sys.executable, "-m", "mdbot.cli", *args], env=env, stdout=subprocess.PIPE,
                              stderr=err, text=True, timeout=6 * 3600, check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(
            f"mdbot {args[0]} {args[1] if len(args) > 1 else ''} failed ({done.returncode}); see {log}"
        )
    out = done.stdout.strip().splitlines()
    return json.loads(out[-1]) if out and out[-1].startswith("{") else None


def short_training_set(export: Path, data: Path) -> dict:
    """The export's training pairs and prompts whose script fits in a small model's context."""
    data.mkdir(parents=True, exist_ok=True)
    keep_tasks = set()
    rows = []
    for line in (export / "sft.train.jsonl").read_text().splitlines():
        r = json.loads(line)
        if len(r["messages"][-1]["content"]) <= MAX_SCRIPT_CHARS:
            rows.append(r)
            keep_tasks.add(r["messages"][1]["content"].split("\n\nFiles in the job directory")[0])
    (data / "sft.train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    prompts = [json.loads(x) for x in (export / "grpo.train.jsonl").read_text().splitlines()]
    prompts = [p for p in prompts if p["task"] in keep_tasks]
    (data / "grpo.train.jsonl").write_text("".join(json.dumps(p) + "\n" for p in prompts))
    return {"sft": len(rows), "grpo": len(prompts)}


def task_subset(task_file: Path, n: int) -> tuple[Path, int]:
    """The ``n`` held-out tasks with the shortest references, written beside the task file (their "dir"
    folders stay valid)."""
    tasks = [json.loads(x) for x in task_file.read_text().splitlines() if x.strip()]
    tasks.sort(key=lambda t: (len(t["standrd_code"]), t["id"]))
    subset = task_file.with_name(f"heldout-{n}.jsonl")
    subset.write_text("".join(json.dumps(t) + "\n" for t in tasks[:n]))
    return subset, len(tasks)


class LocalModels:
    """A responder for the OpenAI-compatible server: generation with the model the request names (one kept
    in memory at a time), by its chat template; requests are served one after another."""

    def __init__(self, paths: dict[str, str], max_tokens: int):
        self.paths, self.max_tokens = paths, max_tokens
        self.lock = threading.Lock()
        self.name: str | None = None
        self.current: str = next(iter(paths))
        self.model = self.tokenizer = None

    def _load(self, name: str):
        if name != self.name:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            self.model = self.tokenizer = None
            self.tokenizer = AutoTokenizer.from_pretrained(self.paths[name])
            self.model = AutoModelForCausalLM.from_pretrained(self.paths[name]).eval()
            self.name = name
        return self.model, self.tokenizer

    def __call__(self, body: dict) -> str:
        import torch

        from tests.graph.openai_server import text_of

        name = body.get("model") if body.get("model") in self.paths else self.current
        with self.lock:
            model, tok = self._load(name)
            messages = [{"role": m["role"], "content": text_of(m.get("content"))} for m in body["messages"]]
            ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                          return_dict=True)  # fmt: skip
            temperature = float(body.get("temperature") or 0.0)
            limit = min(int(body.get("max_tokens") or body.get("max_completion_tokens") or self.max_tokens),
                        self.max_tokens)  # fmt: skip
            sampling = (
                {"do_sample": True, "temperature": temperature, "top_p": 0.95} if temperature > 0 else {}
            )
            with torch.no_grad():
                out = model.generate(**ids, max_new_tokens=limit, pad_token_id=tok.eos_token_id, **sampling)
            return tok.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora" / "lammps-scripts")
    parser.add_argument("--work", type=Path, default=ROOT / ".mdbot" / "learning-loop")
    parser.add_argument("--smoke", action="store_true", help="tiny step counts and two tasks (minutes)")
    for key, value in FULL.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, default=None, help=f"default {value}")
    parser.add_argument("--timeout", type=float, default=60.0, help="LAMMPS run limit per script, seconds")
    parser.add_argument(
        "--threads",
        type=int,
        default=max(1, (os.cpu_count() or 2) // 2),
        help="torch/OpenMP threads per process (oversubscribed threads spin and double CPU time)",
    )
    parser.add_argument("--json", action="store_true")
    a = parser.parse_args()
    p = {
        k: getattr(a, k) if getattr(a, k) is not None else v for k, v in (SMOKE if a.smoke else FULL).items()
    }
    work = a.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    log = work / "learning_loop.log"
    env = {**os.environ, "MDBOT_DATA_DIR": str(work / "mdbot"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "MDBOT_ENV_FILE": os.devnull, "OMP_NUM_THREADS": str(a.threads)}  # fmt: skip
    import torch

    torch.set_num_threads(a.threads)  # the responder's generation, in this process
    seconds: dict[str, float] = {}

    def timed(step: str, fn):
        t0 = time.perf_counter()
        result = fn()
        seconds[step] = round(time.perf_counter() - t0, 1)
        print(f"[learning-loop] {step}: {seconds[step]:.0f} s", file=sys.stderr, flush=True)
        return result

    export = work / "export"
    if not (export / "manifest.json").is_file():
        timed("export", lambda: mdbot(["finetune", "export", "--out", str(export), "--corpus", str(a.corpus),
                                       "--no-knowledge", "--json"], env, log))  # fmt: skip
    manifest = json.loads((export / "manifest.json").read_text())
    corpus = manifest["corpora"][0]
    counts = short_training_set(export, work / "data")
    tasks, heldout = task_subset(Path(corpus["eval_file"]), p["tasks"])

    (work / "sft.yaml").write_text(yaml.safe_dump({"max_length": p["max_length"], "learning_rate": 2e-4,
                                               "batch_size": 2, "save_steps": p["save_steps"]}))  # fmt: skip
    (work / "grpo.yaml").write_text(yaml.safe_dump({
        "num_generations": p["generations"], "batch_size": p["generations"], "max_completion_length": p["completion"],
        "prefill": "```lammps\n", "learning_rate": 5e-5, "reward_timeout_s": a.timeout, "save_steps": p["save_steps"],
        "temperature": 0.9}))  # fmt: skip
    sft, grpo = work / "sft", work / "grpo"
    if not (sft / "merged" / "config.json").is_file():
        timed("sft", lambda: mdbot(["finetune", "sft", "--data", str(work / "data"), "--out", str(sft), "--config",
                                    str(work / "sft.yaml"), "--max-steps", str(p["sft_steps"]), "--merge", "--json"],
                                   env, log))  # fmt: skip
    if not (grpo / "merged" / "config.json").is_file():
        timed("grpo", lambda: mdbot(["finetune", "grpo", "--data", str(work / "data"), "--out", str(grpo),
                                     "--config", str(work / "grpo.yaml"), "--base-model", str(sft / "merged"),
                                     "--max-steps", str(p["grpo_steps"]), "--merge", "--json"], env, log))  # fmt: skip
    grpo_rewards = {}
    metrics = grpo / "metrics.json"
    if metrics.is_file():
        logs = json.loads(metrics.read_text())["log"]
        grpo_rewards = {"first": next((x["reward"] for x in logs if "reward" in x), None),
                        "last": next((x["reward"] for x in reversed(logs) if "reward" in x), None)}  # fmt: skip

    from mdbot.finetune.models import smoke_model
    from tests.graph.openai_server import ScriptedOpenAI

    base = str(smoke_model(work / "mdbot" / "models"))
    models = {"base": base, "sft": str(sft / "merged"), "grpo": str(grpo / "merged")}
    responder = LocalModels(models, p["max_tokens"])
    rows = {}
    with ScriptedOpenAI(responder, models=list(models)) as server:
        eval_env = {**env, "MDBOT_LLM_INSTRUCT_BASE_URL": server.base_url, "MDBOT_LLM_INSTRUCT_API_KEY": "none",
                    "MDBOT_LLM_CODE_MAX_TOKENS": str(p["max_tokens"]), "MDBOT_JUDGE": "false",
                    # CPU generation is slow and the server answers one request at a time: no client timeouts
                    # (a retry would only queue behind the request it gave up on)
                    **{f"MDBOT_LLM_{r}_{k}": v for r in ("INSTRUCT", "CODE", "JUDGE")
                       for k, v in (("TIMEOUT_S", "7200"), ("MAX_RETRIES", "0"))}}  # fmt: skip
        for name in models:
            responder.current = name  # the loop's other roles are served by the model under test too
            out = work / f"eval-{name}"
            doc = timed(f"eval {name}", lambda n=name, o=out: mdbot(
                ["eval", "code", str(tasks), "--model", n, "--mode", "both", "--attempts", str(p["attempts"]),
                 "--no-retrieval", "--no-judge", "--timeout", str(a.timeout), "--out", str(o), "--json"],
                eval_env, log))  # fmt: skip
            rows[name] = doc["by"]["mode"]
    result = {"settings": {**p, "timeout": a.timeout, "smoke": a.smoke}, "seconds": seconds,
              "data": {"corpus_scripts": corpus["used"], "train_examples": corpus["train_examples"],
                       "heldout_examples": corpus["test_examples"], "heldout_tasks": heldout,
                       "tasks_evaluated": min(heldout, p["tasks"]), **{f"short_{k}": v for k, v in counts.items()}},
              "grpo_reward": grpo_rewards, "eval": rows}  # fmt: skip
    (work / "learning_loop.json").write_text(json.dumps(result, indent=1))
    if a.json:
        print(json.dumps(result))
        return
    print(table(result))


def table(result: dict) -> str:
    k = result["settings"]["attempts"]
    lines = [f"| model | mode | n | ExecSucc@1 | ExecSucc@{k} | health pass | fidelity | calls/task |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip

    def num(x):
        return "–" if x is None else f"{x:.2f}"

    for name, by in result["eval"].items():
        for mode, m in by.items():
            lines.append(f"| {name} | {mode} | {m.get('n', 0)} | {num(m.get('exec_succ@1'))} | {num(m.get('exec_succ@k'))} "
                         f"| {num(m.get('health_pass'))} | {num(m.get('fidelity'))} | {num(m.get('calls_per_task'))} |")  # fmt: skip
    d, s = result["data"], result["seconds"]
    lines.append("")
    lines.append(f"{d['corpus_scripts']} corpus scripts: {d['train_examples']} train / {d['heldout_examples']} held out "
                 f"(by source directory); SFT on {d['short_sft']} short pairs, GRPO on {d['short_grpo']} prompts; "
                 f"{d['tasks_evaluated']} of {d['heldout_tasks']} held-out tasks evaluated. GRPO reward "
                 f"{result['grpo_reward'].get('first')} → {result['grpo_reward'].get('last')}.")  # fmt: skip
    lines.append(
        "seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in s.items()) + f"; total {sum(s.values()):.0f}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
