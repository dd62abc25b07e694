"""The learning loop on a real model, before and after, measured on held-out tasks (issue 19).

    .venv/bin/python bench/learning_loop.py [--work DIR] [--smoke] [--json]      # or: make learning-loop

1. ``mdbot finetune export --corpus ../shared/corpora/lammps-scripts`` (no journal, no knowledge base): SFT
   pairs and GRPO prompts from the example scripts, split held out by source directory, and the held-out
   runnable examples as an MD-EvalBench-format task file (never trained on).
2. ``mdbot finetune sft`` on the training pairs that fit ``--max-length`` tokens whole, merged; checkpoints
   every ``--save-steps``, so an interrupted run resumes where it stopped.
3. ``mdbot finetune grpo`` from the SFT model with the sandbox reward, on the prompts whose reference fits
   ``--completion`` tokens, merged.
4. ``mdbot eval code`` on the first ``--tasks`` held-out tasks (shortest references first) for the base
   model, after SFT and after GRPO, direct and loop modes as two processes, each served the same way: an
   OpenAI-compatible endpoint on 127.0.0.1 (tests/graph/openai_server.py's HTTP server, the real protocol)
   whose replies come from ``transformers`` generation with the model the request names, batched across
   the requests that arrive together and stopped where the reply's code block closes. No judge: fidelity
   is by rules.

Two cores, one thread each: training runs on one while the model trained before it is served and scored
on the other (base during SFT, SFT during GRPO, then GRPO). bf16 weights where the CPU has bf16 matrix
units. Prints one table (ExecSucc@1/@k, health pass rate, fidelity, calls per task) and writes
``<work>/learning_loop.json`` (with wall and CPU seconds); per-step logs in ``<work>/logs``. Every step is
skipped when its output is already there, so a rerun after an interruption carries on (training resumes
from its last checkpoint, an evaluation from its last finished task). ``--smoke`` is a few-minute version
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

FULL = {"sft_steps": 80, "grpo_steps": 12, "generations": 4, "completion": 224, "tasks": 8, "attempts": 3,
        "max_tokens": 288, "max_length": 640, "save_steps": 10, "concurrency": 4}  # fmt: skip
SMOKE = {"sft_steps": 4, "grpo_steps": 2, "generations": 2, "completion": 128, "tasks": 2, "attempts": 2,
         "max_tokens": 128, "max_length": 512, "save_steps": 2, "concurrency": 2}  # fmt: skip


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


def short_training_set(export: Path, data: Path, model: str, max_length: int, completion: int) -> dict:
    """The export's training pairs that fit ``max_length`` tokens whole (a truncated pair teaches a
    truncated script), and the GRPO prompts of their tasks whose reference fits ``completion`` tokens."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    data.mkdir(parents=True, exist_ok=True)
    keep_tasks = set()
    rows = []
    for line in (export / "sft.train.jsonl").read_text().splitlines():
        r = json.loads(line)
        length = len(tok.apply_chat_template(r["messages"], tokenize=True, return_dict=False))
        if length <= max_length:
            rows.append(r)
            if len(tok(r["messages"][-1]["content"])["input_ids"]) <= completion:
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


def cpu_has_bf16() -> bool:
    """bf16 matrix units (AMX / AVX512-BF16): there bf16 weights train and generate faster than float32
    (measured here: an SFT step 1.4x, a batch of 16 through the LM head 3x); elsewhere bf16 is emulated."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


class _Pending:
    def __init__(self, text: str, limit: int, temperature: float):
        self.text, self.limit, self.temperature = text, limit, temperature
        self.reply: str | None = None
        self.error: BaseException | None = None


class LocalModels:
    """A responder for the OpenAI-compatible server: generation with the model the request names, by its
    chat template. Requests that arrive together for one model are generated as one batch (on CPU a batch
    of 8 costs little more per token than one sequence: decoding is bound by reading the weights), and a
    reply ends where its first fenced block closes (the stop sequence a lab would give vLLM), so a model
    that rambles on after its script does not spend the token budget."""

    def __init__(self, paths: dict[str, str], max_tokens: int, *, bf16: bool = False, batch: int = 8,
                 replies: Path | None = None):  # fmt: skip
        self.paths, self.max_tokens, self.bf16, self.batch = paths, max_tokens, bf16, batch
        self.replies = replies  # every reply, one JSON line each, to read what the models wrote
        self.current: str = next(iter(paths))
        self.models: dict[str, tuple] = {}
        self.queues: dict[str, list[_Pending]] = {n: [] for n in paths}
        self.locks = {n: threading.Lock() for n in paths}  # one generation per model at a time
        self.guard = threading.Lock()  # the queues and the loaded models
        self.batches: list[int] = []  # sizes, for the report

    def _load(self, name: str):
        with self.guard:
            if name not in self.models:
                import torch
                from transformers import AutoModelForCausalLM, AutoTokenizer

                tok = AutoTokenizer.from_pretrained(self.paths[name])
                tok.padding_side = "left"
                if tok.pad_token is None:
                    tok.pad_token = tok.eos_token
                dtype = torch.bfloat16 if self.bf16 else torch.float32
                model = AutoModelForCausalLM.from_pretrained(self.paths[name], dtype=dtype).eval()
                self.models[name] = (model, tok)
            return self.models[name]

    def __call__(self, body: dict) -> str:
        from tests.graph.openai_server import text_of

        name = body.get("model") if body.get("model") in self.paths else self.current
        model, tok = self._load(name)
        messages = [{"role": m["role"], "content": text_of(m.get("content"))} for m in body["messages"]]
        limit = min(int(body.get("max_tokens") or body.get("max_completion_tokens") or self.max_tokens),
                    self.max_tokens)  # fmt: skip
        mine = _Pending(tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False), limit,
                        float(body.get("temperature") or 0.0))  # fmt: skip
        with self.guard:
            self.queues[name].append(mine)
        while mine.reply is None and mine.error is None:
            with self.locks[name]:  # whoever holds it generates the next batch, maybe including this one
                if mine.reply is not None or mine.error is not None:
                    break
                with self.guard:
                    queue = self.queues[name]
                    head = queue[0]
                    group = [x for x in queue if x.temperature == head.temperature][: self.batch]
                    self.queues[name] = [x for x in queue if x not in group]
                try:
                    for item, reply in zip(group, self._generate(model, tok, group), strict=True):
                        item.reply = reply
                    if self.replies is not None:
                        with self.guard, self.replies.open("a") as f:
                            f.writelines(json.dumps({"model": name, "reply": g.reply}) + "\n" for g in group)
                except BaseException as exc:  # noqa: BLE001 - handed to every request of the batch
                    for item in group:
                        item.error = exc
        if mine.error is not None:
            raise mine.error
        return mine.reply or ""

    def _generate(self, model, tok, group: list[_Pending]) -> list[str]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        self.batches.append(len(group))
        enc = tok([g.text for g in group], return_tensors="pt", padding=True, add_special_tokens=False)
        start = enc["input_ids"].shape[1]
        limits = torch.tensor([g.limit for g in group])

        class FenceClosed(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                n = input_ids.shape[1] - start
                done = [n >= int(limits[i]) or closed(tok.decode(row[start:], skip_special_tokens=True))
                        for i, row in enumerate(input_ids)]  # fmt: skip
                return torch.tensor(done, dtype=torch.bool)

        t = group[0].temperature
        sampling = {"do_sample": True, "temperature": t, "top_p": 0.95} if t > 0 else {"do_sample": False}
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=int(limits.max()), pad_token_id=tok.pad_token_id,
                                 stopping_criteria=StoppingCriteriaList([FenceClosed()]), **sampling)  # fmt: skip
        replies = []
        for i, g in enumerate(group):
            text = tok.decode(out[i, start : start + g.limit], skip_special_tokens=True)
            replies.append(cut_after_fence(text))
        return replies


def closed(text: str) -> bool:
    """The reply's first fenced block has closed."""
    return text.count("```") >= 2


def cut_after_fence(text: str) -> str:
    first = text.find("```")
    if first < 0:
        return text
    second = text.find("```", first + 3)
    return text if second < 0 else text[: second + 3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora" / "lammps-scripts")
    parser.add_argument("--work", type=Path, default=ROOT / ".mdbot" / "learning-loop")
    parser.add_argument("--smoke", action="store_true", help="tiny step counts and two tasks (minutes)")
    for key, value in FULL.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, default=None, help=f"default {value}")
    parser.add_argument("--timeout", type=float, default=30.0, help="LAMMPS run limit per script, seconds")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch/OpenMP threads per process (training and serving run side by side, one "
                             "core each; oversubscribed threads spin)")  # fmt: skip
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                        help="bf16 weights (default: when the CPU has bf16 matrix units)")  # fmt: skip
    parser.add_argument("--json", action="store_true")
    a = parser.parse_args()
    p = {
        k: getattr(a, k) if getattr(a, k) is not None else v for k, v in (SMOKE if a.smoke else FULL).items()
    }
    bf16 = cpu_has_bf16() if a.bf16 is None else a.bf16
    work = a.work.resolve()
    (work / "logs").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MDBOT_DATA_DIR": str(work / "mdbot"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "MDBOT_ENV_FILE": os.devnull, "OMP_NUM_THREADS": str(a.threads)}  # fmt: skip
    import torch

    torch.set_num_threads(a.threads)  # the responder's generation, in this process
    seconds: dict[str, float] = {}
    wall0, cpu0 = time.perf_counter(), _cpu_seconds()
    loads: list[float] = []  # the 1-minute load average every 30 s: how shared the machine was

    def sample_load():
        with (work / "logs" / "loadavg.log").open("a") as f:
            while True:
                loads.append(os.getloadavg()[0])
                f.write(f"{time.strftime('%H:%M:%S')} {Path('/proc/loadavg').read_text().strip()}\n")
                f.flush()
                time.sleep(30)

    threading.Thread(target=sample_load, daemon=True).start()

    # a rerun after an interruption adds its time to what the earlier runs recorded (the steps they finished)
    progress = work / "progress.json"
    before = json.loads(progress.read_text()) if progress.is_file() else {}
    lock = threading.Lock()

    def record() -> dict:
        with lock:
            spent = {"seconds": {**before.get("seconds", {}), **seconds},
                     "wall_s": round(before.get("wall_s", 0) + time.perf_counter() - wall0, 1),
                     "cpu_s": round(before.get("cpu_s", 0) + _cpu_seconds() - cpu0, 1),
                     "runs": before.get("runs", 0) + 1}  # fmt: skip
            progress.write_text(json.dumps(spent))
            return spent

    def timed(step: str, fn):
        say(f"{step}: started")
        t0 = time.perf_counter()
        result = fn()
        seconds[step] = round(time.perf_counter() - t0, 1)
        say(f"{step}: done in {seconds[step]:.0f} s (load average {os.getloadavg()[0]:.1f})")
        record()
        return result

    export = work / "export"
    if not (export / "manifest.json").is_file():
        timed("export", lambda: mdbot(["finetune", "export", "--out", str(export), "--corpus", str(a.corpus),
                                       "--no-knowledge", "--json"], env, work / "logs" / "export.log"))  # fmt: skip
    manifest = json.loads((export / "manifest.json").read_text())
    corpus = manifest["corpora"][0]
    from mdbot.finetune.models import smoke_model

    base = str(smoke_model(work / "mdbot" / "models"))
    counts = short_training_set(export, work / "data", base, p["max_length"], p["completion"])
    tasks, heldout = task_subset(Path(corpus["eval_file"]), p["tasks"])

    (work / "sft.yaml").write_text(yaml.safe_dump({"max_length": p["max_length"], "learning_rate": 2e-4,
                                                   "batch_size": 2, "save_steps": p["save_steps"],
                                                   "bf16": bf16}))  # fmt: skip
    (work / "grpo.yaml").write_text(yaml.safe_dump({
        "num_generations": p["generations"], "batch_size": p["generations"], "max_completion_length": p["completion"],
        "prefill": "```lammps\n", "learning_rate": 5e-5, "reward_timeout_s": a.timeout, "save_steps": p["save_steps"],
        "temperature": 0.9, "bf16": bf16}))  # fmt: skip
    sft, grpo = work / "sft", work / "grpo"

    def train_sft():
        if not (sft / "merged" / "config.json").is_file():
            timed("sft", lambda: mdbot(["finetune", "sft", "--data", str(work / "data"), "--out", str(sft), "--config",
                                        str(work / "sft.yaml"), "--max-steps", str(p["sft_steps"]), "--merge", "--json"],
                                       env, work / "logs" / "sft.log"))  # fmt: skip

    def train_grpo():
        if not (grpo / "merged" / "config.json").is_file():
            timed("grpo", lambda: mdbot(["finetune", "grpo", "--data", str(work / "data"), "--out", str(grpo),
                                         "--config", str(work / "grpo.yaml"), "--base-model", str(sft / "merged"),
                                         "--max-steps", str(p["grpo_steps"]), "--merge", "--json"], env,
                                        work / "logs" / "grpo.log"))  # fmt: skip

    from tests.graph.openai_server import ScriptedOpenAI

    models = {"base": base, "sft": str(sft / "merged"), "grpo": str(grpo / "merged")}
    responder = LocalModels(
        models,
        p["max_tokens"],
        bf16=bf16,
        batch=2 * p["concurrency"],
        replies=work / "logs" / "replies.jsonl",
    )
    rows: dict[str, dict] = {name: {} for name in models}
    with ScriptedOpenAI(responder, models=list(models)) as server:
        eval_env = {**env, "MDBOT_LLM_INSTRUCT_BASE_URL": server.base_url, "MDBOT_LLM_INSTRUCT_API_KEY": "none",
                    "MDBOT_LLM_CODE_MAX_TOKENS": str(p["max_tokens"]), "MDBOT_JUDGE": "false",
                    # CPU generation is slow and the server batches what arrives together: no client timeouts
                    # (a retry would only queue behind the request it gave up on)
                    **{f"MDBOT_LLM_{r}_{k}": v for r in ("INSTRUCT", "CODE", "JUDGE")
                       for k, v in (("TIMEOUT_S", "7200"), ("MAX_RETRIES", "0"))}}  # fmt: skip

        def evaluate(name: str, mode: str):
            done = work / f"eval-{name}-{mode}.json"
            if not done.is_file():
                doc = timed(f"eval {name} {mode}", lambda: mdbot(
                    ["eval", "code", str(tasks), "--model", name, "--mode", mode, "--attempts", str(p["attempts"]),
                     "--no-retrieval", "--no-judge", "--timeout", str(a.timeout), "--concurrency",
                     str(p["concurrency"]), "--out", str(work / f"eval-{name}-{mode}"), "--json"],
                    eval_env, work / "logs" / f"eval-{name}-{mode}.log"))  # fmt: skip
                done.write_text(json.dumps(doc["by"]["mode"][mode]))
            rows[name][mode] = json.loads(done.read_text())

        def evaluations(name: str):
            responder.current = name  # the loop's other roles are served by the model under test too
            return [lambda m=mode: evaluate(name, m) for mode in ("direct", "loop")]

        # Training on one core, serving and scoring the model trained last on the other: the base model is
        # evaluated during SFT, the SFT model during GRPO, then the GRPO model.
        side_by_side([train_sft, *evaluations("base")])
        side_by_side([train_grpo, *evaluations("sft")])
        side_by_side(evaluations("grpo"))
    grpo_rewards = {}
    metrics = grpo / "metrics.json"
    if metrics.is_file():
        logs = [x for x in json.loads(metrics.read_text())["log"] if "reward" in x]
        rewards = [x["reward"] for x in logs]
        quarter = max(1, len(rewards) // 4)
        grpo_rewards = {"first": rewards[0] if rewards else None, "last": rewards[-1] if rewards else None,
                        "first_quarter_mean": round(sum(rewards[:quarter]) / quarter, 4) if rewards else None,
                        "last_quarter_mean": round(sum(rewards[-quarter:]) / quarter, 4) if rewards else None}  # fmt: skip
    spent = record()
    result = {"settings": {**p, "timeout": a.timeout, "smoke": a.smoke, "bf16": bf16, "threads": a.threads},
              **spent, "batches": _batch_stats(responder.batches),
              "load_average": {"min": min(loads), "mean": round(sum(loads) / len(loads), 2), "max": max(loads)},
              "data": {"corpus_scripts": corpus["used"], "train_examples": corpus["train_examples"],
                       "heldout_examples": corpus["test_examples"], "heldout_tasks": heldout,
                       "tasks_evaluated": min(heldout, p["tasks"]), **{f"short_{k}": v for k, v in counts.items()}},
              "grpo_reward": grpo_rewards, "eval": rows}  # fmt: skip
    (work / "learning_loop.json").write_text(json.dumps(result, indent=1))
    if a.json:
        print(json.dumps(result))
        return
    print(table(result))


def say(line: str) -> None:
    print(f"[learning-loop {time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def side_by_side(jobs) -> None:
    """Run the jobs at once in threads (each starts a process or waits on the server); re-raise a failure."""
    errors: list[BaseException] = []

    def run(job):
        try:
            job()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (user + system)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _batch_stats(sizes: list[int]) -> dict:
    return {"generations": len(sizes), "requests": sum(sizes),
            "mean_size": round(sum(sizes) / len(sizes), 2) if sizes else 0}  # fmt: skip


def table(result: dict) -> str:
    k = result["settings"]["attempts"]
    lines = [f"| model | mode | n | ExecSucc@1 | ExecSucc@{k} | health pass | fidelity | calls/task |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip

    def num(x):
        return "–" if x is None else f"{x:.2f}"

    for name, by in result["eval"].items():
        for mode in ("direct", "loop"):
            m = by.get(mode, {})
            lines.append(f"| {name} | {mode} | {m.get('n', 0)} | {num(m.get('exec_succ@1'))} | {num(m.get('exec_succ@k'))} "
                         f"| {num(m.get('health_pass'))} | {num(m.get('fidelity'))} | {num(m.get('calls_per_task'))} |")  # fmt: skip
    d, s = result["data"], result["seconds"]
    lines.append("")
    lines.append(f"{d['corpus_scripts']} corpus scripts: {d['train_examples']} train / {d['heldout_examples']} held out "
                 f"(by source directory); SFT on {d['short_sft']} short pairs, GRPO on {d['short_grpo']} prompts; "
                 f"{d['tasks_evaluated']} of {d['heldout_tasks']} held-out tasks evaluated. GRPO reward "
                 f"{result['grpo_reward'].get('first')} → {result['grpo_reward'].get('last')}.")  # fmt: skip
    lines.append("seconds (steps run side by side): " + ", ".join(f"{k} {v:.0f}" for k, v in s.items())
                 + f"; wall {result['wall_s']:.0f}, CPU {result['cpu_s']:.0f} (this process and its children); "
                 f"load average {result['load_average']['min']:.1f}–{result['load_average']['max']:.1f} "
                 f"(mean {result['load_average']['mean']:.1f}) on {os.cpu_count()} CPUs")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
