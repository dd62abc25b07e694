"""``mdbot eval code FILE``: script generation, judged by LAMMPS itself (does it run?) and by a judge model
against the reference script (does it do the task?).

Two modes, so the runtime's contribution is a number:

- **direct** — the model alone, prompted exactly as it is fine-tuned (``finetune.formats``: the bare code
  system prompt and the task), one generation run once in the sandbox. ExecSucc@k counts a task when any of
  k independent generations runs (pass@k-style; the samples stop at the first that runs). This is
  MDAgent2's "model only" setting.
- **loop** — the whole graph as the bot runs it: retrieval of examples and manual pages, validate, run,
  critique, deterministic and model repairs, with an attempt budget of k. ExecSucc@1 is its first attempt,
  ExecSucc@k any of its k attempts.

"Runs" means the sandbox's status ``ok``: LAMMPS reached the end of the input without an error. A task whose
reference script reads files that are not supplied (``read_data``, ``include``, a potential LAMMPS does not
ship…) cannot be done by any model; such tasks are listed under ``skipped`` with the missing names, not
scored and not silently dropped.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mdbot.finetune.features import fidelity
from mdbot.graph.critique import run_summary
from mdbot.graph.service import SAFE_NAME
from mdbot.graph.state import health_of

from . import judge as judging
from .report import Run, file_digest, md_table
from .scoring import BenchFileError, read_records, record_id

if TYPE_CHECKING:
    pass

MODES = ("direct", "loop")
METRICS = ["exec_succ@1", "exec_succ@k", "health_pass", "fidelity", "judge_score", "calls_per_task"]
# Commands whose first argument is a file the input reads (``molecule ID FILE`` and ``variable … file``
# are handled apart); the ``write_*`` ones create files a later command may read.
READS = {"read_data", "read_restart", "read_dump", "include"}
WRITES = {"write_data", "write_restart", "write_dump", "write_coeff"}


@dataclass
class CodeTask:
    id: str
    task: str
    reference: str = ""
    files: dict[str, str] = field(default_factory=dict)  # name -> path
    type: str = "all"
    missing: list[str] = field(default_factory=list)


def needed_files(script: str, library=None) -> list[str]:
    """Files a script reads that it does not write itself and LAMMPS's potentials library does not hold."""
    from mdbot.sandbox.potentials import referenced_files
    from mdbot.sandbox.script import commands

    cmds = commands(script)
    need: list[str] = []
    written: set[str] = set()

    def want(word: str) -> None:
        if "$" not in word and word not in written and word not in need:
            need.append(word)

    for c in cmds:
        w = c.words
        if c.name in WRITES and len(w) > 1:
            written.add(w[1])
        elif c.name in READS and len(w) > 1:
            want(w[1])
        elif c.name == "molecule" and len(w) > 2:
            want(w[2])
        elif c.name == "variable" and len(w) > 3 and w[2] in ("file", "atomfile"):
            want(w[3])
    for _cmd, word in referenced_files([c for c in cmds if c.name in ("pair_coeff", "pair_style")]):
        if library is None or library.find(word) is None:
            want(word)
    return need


def load_tasks(path: Path, files_dir: Path | None = None, library=None) -> tuple[list[CodeTask], list[dict]]:
    """Tasks from JSON lines or a JSON array: ``{"task", "standrd_code"}`` (upstream, maybe ``"BASE64:"``)
    or ``{"task", "reference"}``; optional ``id``, ``type``, ``files`` (names in ``files_dir``, default the
    task file's directory). Files the reference reads are supplied from ``files_dir`` too when they are
    there; those that are not make the task ``missing`` them."""
    records, bad = read_records(path)
    files_dir = Path(files_dir) if files_dir else Path(path).parent
    tasks, seen = [], set()
    for number, rec in records:
        try:
            task = rec.get("task")
            if not isinstance(task, str) or not task.strip():
                raise ValueError('no "task" text')
            reference = rec.get("standrd_code") or rec.get("standard_code") or rec.get("reference") or ""
            if not isinstance(reference, str):
                raise ValueError("the reference script must be text")
            tid = record_id(rec, str(number))
            if tid in seen:
                raise ValueError(f"duplicate id {tid!r}")
            names = rec.get("files") or []
            task_dir = files_dir
            if rec.get("dir") is not None:  # this task's own folder of files, inside the task file's folder
                sub = rec["dir"]
                if not isinstance(sub, str) or Path(sub).is_absolute() or ".." in Path(sub).parts:
                    raise ValueError('"dir" must be a folder below the task file\'s folder')
                task_dir = Path(path).parent / sub
            if not isinstance(names, list) or not all(
                isinstance(n, str) and SAFE_NAME.match(n) for n in names
            ):
                raise ValueError('"files" must be a list of plain file names (in --files DIR)')
            # the files the task names, and those its reference reads that are in the files directory
            # (upstream's tasks name none: their data files just sit next to them)
            wanted = names + [n for n in needed_files(reference, library) if n not in names]
            supplied = {n: str((task_dir / n).resolve()) for n in wanted
                        if SAFE_NAME.match(n) and (task_dir / n).is_file()}  # fmt: skip
            missing = [n for n in wanted if n not in supplied]
            seen.add(tid)
            tasks.append(
                CodeTask(tid, task.strip(), reference, supplied, str(rec.get("type") or "all"), missing)
            )
        except Exception as exc:  # noqa: BLE001 - any malformed record is a bad line, never a crash
            bad.append({"line": number, "reason": str(exc)[:300] or type(exc).__name__})
    bad.sort(key=lambda b: b["line"])
    if not tasks:
        raise BenchFileError(f"no usable tasks in {path}")
    return tasks, bad


def _tokens(calls: list[dict]) -> dict[str, int]:
    return {
        "input": sum(c.get("input_tokens") or 0 for c in calls),
        "output": sum(c.get("output_tokens") or 0 for c in calls),
    }


class Harness:
    """Everything a task needs: the models, the sandbox settings, the knowledge base, k."""

    def __init__(self, model, *, judge=None, searcher=None, sandbox=None, attempts=3, timeout_s=300.0,
                 state_dir: Path | None = None):  # fmt: skip
        from mdbot.sandbox.settings import SandboxSettings

        self.model, self.judge, self.searcher = model, judge, searcher
        self.sandbox = sandbox or SandboxSettings()
        self.k, self.timeout_s = attempts, timeout_s
        self.state_dir = state_dir
        self._brain = None
        self._lock = threading.Lock()

    def brain(self):
        """One graph for all loop tasks, configured as the bot's (.env) except for the budget and where its
        state goes: no journal (benchmark data must not become training data) and checkpoints under the
        report directory, never the lab's database."""
        with self._lock:
            if self._brain is not None:
                return self._brain
            from mdbot.graph.service import Brain
            from mdbot.graph.settings import GraphSettings

            lab = GraphSettings()
            state = self.state_dir or Path(tempfile.mkdtemp(prefix="mdbot-eval-"))
            settings = lab.model_copy(update={"data_dir": state, "database_url": None,
                                              "attempt_budget": self.k, "run_timeout_s": self.timeout_s,
                                              "max_model_calls": max(lab.max_model_calls, 3 * self.k + 2)})  # fmt: skip
            models = {"instruct": None, "code": self.model, "judge": self.judge}
            self._brain = Brain(settings, sandbox=self.sandbox, models=models,
                                searcher=self.searcher if self.searcher is not None else False, journal=False)  # fmt: skip
        return self._brain

    def close(self) -> None:
        if self._brain is not None:
            self._brain.close()

    # --------------------------------------------------------------------------------------- modes
    def direct(self, t: CodeTask) -> dict:
        from langchain_core.messages import HumanMessage, SystemMessage

        from mdbot.finetune.formats import CODE_SYSTEM, task_message
        from mdbot.graph.calls import call_entry
        from mdbot.graph.intent import extract_script
        from mdbot.graph.models import stream_text
        from mdbot.sandbox.jobs import JobInputError, run

        messages = [SystemMessage(CODE_SYSTEM), HumanMessage(task_message(t.task, t.files))]
        attempts, calls, final, final_result = [], [], None, None
        for n in range(1, self.k + 1):
            reply, usage = stream_text(self.model, messages)
            calls.append(call_entry("code", self.model, "generate", usage))
            script = extract_script(reply)
            if not script:
                attempts.append({"n": n, "run": None, "error": {"message": "no script in the reply"}})
                continue
            try:
                result = run(script, list(map(Path, t.files.values())), timeout=self.timeout_s,
                             settings=self.sandbox).model_dump()  # fmt: skip
            except JobInputError as exc:
                result = {"status": "rejected", "error": {"message": str(exc)}, "health": {}}
            final, final_result = script, result
            attempts.append({"n": n, "run": result["status"], "error": result.get("error"),
                             "health": result.get("health")})  # fmt: skip
            if result["status"] == "ok":
                break
        return {"attempts": attempts, "calls": calls, "script": final, "result": final_result}

    def loop(self, t: CodeTask) -> dict:
        turn = self.brain().ask(t.task, t.files, source="eval", intent="generate")
        if turn.outcome == "error" and not turn.attempts:
            raise RuntimeError(turn.answer[:300])  # the endpoint failed: retried on the next run
        return {"attempts": turn.attempts, "calls": turn.calls, "script": turn.script, "result": turn.result,
                "outcome": turn.outcome}  # fmt: skip

    def task(self, t: CodeTask, mode: str) -> dict:
        t0 = time.perf_counter()
        got = self.direct(t) if mode == "direct" else self.loop(t)
        ran = [a["run"] == "ok" for a in got["attempts"]]
        result = got["result"]
        row = {"id": t.id, "type": t.type, "mode": mode,
               "exec@1": bool(ran[:1] and ran[0]), "exec@k": any(ran[: self.k]),
               "health_ok": bool(result) and result["status"] == "ok" and health_of(result).get("ok", True),
               "n_attempts": len(got["attempts"]), "attempts": got["attempts"],
               "calls": len(got["calls"]), "tokens": _tokens(got["calls"]),
               "script": got["script"], "outcome": got.get("outcome")}  # fmt: skip
        row |= self.grade(t, got["script"], got["result"])
        fid = fidelity(t.task, got["script"])  # rules, no judge: units, potential, elements, ensemble, T
        row |= {"fidelity": fid["fidelity"], "fidelity_checks": fid["checks"]}
        row["s"] = round(time.perf_counter() - t0, 2)
        return row

    def grade(self, t: CodeTask, script: str | None, result: dict | None) -> dict:
        """The judge's 0–10 against the reference; 0 without a script; None without a judge or reference."""
        if self.judge is None or not t.reference:
            return {"judge": None}
        if not script:
            return {"judge": 0.0, "judge_reason": "no script was produced"}
        run = run_summary(result) if result else "it was not run"
        verdict = judging.judge_code(self.judge, t.task, t.reference, script, run)
        if verdict is None:
            return {
                "judge": None,
                "judge_reason": "no verdict (the judge failed or its reply did not validate)",
            }
        return {"judge": verdict.score, "judge_reason": verdict.reason}


def evaluate(
    path: Path,
    out: Path,
    harness: Harness,
    *,
    modes: tuple[str, ...] = MODES,
    files_dir: Path | None = None,
    concurrency: int = 1,
    on_item: Callable[[int, int], None] | None = None,
    model_ids: dict | None = None,
) -> dict:
    """Run (or resume) the code benchmark; returns the report document (docs/architecture.md §4 shape)."""
    from mdbot.sandbox.potentials import library_for

    tasks, bad = load_tasks(path, files_dir, library_for(harness.sandbox))
    runnable = [t for t in tasks if not t.missing]
    skipped = [{"id": t.id, "missing": t.missing} for t in tasks if t.missing]
    fingerprint = {"model": (model_ids or {}).get("model"), "judge": (model_ids or {}).get("judge"),
                   "file": file_digest(path), "files_dir": str(files_dir) if files_dir else None, "attempts": harness.k,
                   "timeout_s": harness.timeout_s, "retrieval": harness.searcher is not None}  # fmt: skip
    run = Run(out, "code", fingerprint)
    work = [(f"{m}/{t.id}", lambda t=t, m=m: harness.task(t, m)) for m in modes for t in runnable]
    try:
        done = run.map(work, concurrency, on_item)
    finally:
        harness.close()
    rows = [done[k] for k, _ in work if k in done]
    doc = summarize(rows, modes, harness.k)
    doc.update({"model": (model_ids or {}).get("model", ""), "models": model_ids or {}, "skipped": skipped,
                "bad_lines": bad, "errors": run.errors, "file": str(path),
                "settings": {"modes": list(modes), "attempts": harness.k, "timeout_s": harness.timeout_s,
                             "retrieval": harness.searcher is not None, "concurrency": concurrency}})  # fmt: skip
    doc["metrics"]["skipped"] = len(skipped)
    return run.write(doc, markdown(doc), chart(doc))


def _metrics(rows: list[dict]) -> dict:
    n = len(rows)
    if not n:
        return {"n": 0}
    judged = [r["judge"] for r in rows if r["judge"] is not None]
    checked = [r["fidelity"] for r in rows if r.get("fidelity") is not None]
    return {
        "n": n,
        "exec_succ@1": round(sum(r["exec@1"] for r in rows) / n, 4),
        "exec_succ@k": round(sum(r["exec@k"] for r in rows) / n, 4),
        "health_pass": round(sum(bool(r["health_ok"]) for r in rows) / n, 4),
        "fidelity": round(sum(checked) / len(checked), 4) if checked else None,
        "fidelity_n": len(checked),
        "judge_score": round(sum(judged) / len(judged), 3) if judged else None,
        "judged": len(judged),
        "calls_per_task": round(sum(r["calls"] for r in rows) / n, 3),
        "tokens_per_task": round(sum(r["tokens"]["input"] + r["tokens"]["output"] for r in rows) / n, 1),
        "attempts_per_task": round(sum(r["n_attempts"] for r in rows) / n, 3),
        "wall_s_per_task": round(sum(r["s"] for r in rows) / n, 2),
    }


def summarize(rows: list[dict], modes: tuple[str, ...], k: int) -> dict:
    by_mode = {m: _metrics([r for r in rows if r["mode"] == m]) for m in modes}
    types: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        types[r["type"]][r["mode"]].append(r)
    by_type = {t: {m: _metrics(rs).get("exec_succ@k") for m, rs in per.items()} | {"n": len({r["id"] for rs in per.values() for r in rs})}
               for t, per in sorted(types.items())}  # fmt: skip
    primary = "loop" if "loop" in modes else modes[0]
    metrics = {**by_mode[primary], "k": k}
    n = metrics.pop("n")
    return {
        "kind": "code",
        "n": n,
        "metrics": metrics,
        "by": {"mode": by_mode, "type": by_type},
        "primary": primary,
    }


def markdown(doc: dict) -> str:
    s = doc["settings"]
    lines = [f"# Code generation — {Path(doc['file']).name}", "",
             f"{doc['n']} tasks, model `{doc['model']}`, judge `{doc['models'].get('judge') or 'none'}`, "
             f"k = {s['attempts']}, run timeout {s['timeout_s']:g} s, loop retrieval {'on' if s['retrieval'] else 'off'}.",
             "", "exec_succ@k: the script runs to the end without a LAMMPS error within k attempts (direct: k "
             "independent generations; loop: the graph's attempt budget). health_pass: the final script ran and "
             "passed the health checks. fidelity: the share of the task's checkable asks (units, potential style "
             "and elements, ensemble, temperature) the final script meets, by rules, over the tasks that ask any "
             "(fidelity_n). judge_score: 0–10 task fidelity against the reference.", "",
             md_table(doc["by"]["mode"], ["n", *METRICS, "tokens_per_task", "wall_s_per_task"]), ""]  # fmt: skip
    if len(doc["by"]["type"]) > 1:
        lines += ["## exec_succ@k by task type", "", md_table(doc["by"]["type"], ["n", *s["modes"]]), ""]
    if doc["skipped"]:
        lines += [f"## Skipped: {len(doc['skipped'])} task(s) need files that were not supplied", ""]
        lines += [f"- `{t['id']}`: {', '.join(t['missing'])}" for t in doc["skipped"]]
        lines.append("\nPut them in `--files DIR` (default: next to the task file) to score these tasks.")
    return "\n".join(lines) + "\n"


def chart(doc: dict) -> dict[str, dict[str, float]]:
    out = {}
    for mode, m in doc["by"]["mode"].items():
        if m.get("n"):
            out[mode] = {"exec_succ@1": m["exec_succ@1"], f"exec_succ@{doc['settings']['attempts']}": m["exec_succ@k"],
                         "health_pass": m["health_pass"], "fidelity": m.get("fidelity"),
                         "judge_score/10": (m["judge_score"] / 10) if m["judge_score"] is not None else None}  # fmt: skip
    return out
