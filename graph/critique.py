"""Critique of an attempt: MDAgent2's grading rubric (docs/architecture.md §8), decided from the sandbox result
wherever it can be, plus a judge model's view of task fidelity and physics.

The rubric gives up to 21 points for the script and its run (the items of §7) and 10 for task completion,
minus penalties; ``score`` = (clip(points − penalties, −10, 30) + 10) / 40, as MDAgent2 maps it to [0, 1].
Without a judge the rubric points are scaled by 30/21. Items a run cannot decide (does the box fit the structure asked for?)
are credited when the script ran; they are listed under ``assumed`` so nobody mistakes them for checks.
"""

from __future__ import annotations

import re

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from mdbot.sandbox.script import commands

from . import prompts
from .state import Attempt, Critique, Grades, SandboxResult, Verdict, error_of, health_of

# Timestep ranges (in the units' time unit) an MD practitioner accepts.
TIMESTEP = {
    "lj": (1e-4, 0.01),
    "real": (0.1, 4.0),
    "metal": (1e-4, 0.005),
    "si": (1e-17, 5e-15),
    "cgs": (1e-17, 5e-15),
    "electron": (0.01, 5.0),
    "micro": (1e-6, 10.0),
    "nano": (1e-6, 10.0),
}
RUBRIC_MAX = 21
DEFAULT_TIMESTEP = {"lj": 0.005, "real": 1.0, "metal": 0.001, "si": 1e-8, "cgs": 1e-8, "electron": 0.001}
INTEGRATORS = re.compile(r"^(nve|nvt|npt|nph|langevin|nve/.*|nvt/.*|npt/.*|rigid.*|brownian.*|gld|gle)")


class JudgeVerdict(BaseModel):
    """The judge model's grade of a script that ran, as asked of it by JSON schema (stored as ``Verdict``);
    ``finetune``'s reward asks the same."""

    task_completion: float = Field(ge=0, le=10)
    does_other_task: bool = False
    physics: float = Field(5, ge=0, le=10)
    comments: str = ""


def _number(word: str) -> float | None:
    try:
        return float(word)
    except ValueError:
        return None


def _script_facts(script: str) -> dict:
    cmds = commands(script)
    facts: dict = {"units": "lj", "timestep": None, "damping": [], "thermo": None, "steps": 0}
    names = [c.name for c in cmds]
    for c in cmds:
        w = c.words
        if c.name == "units" and len(w) > 1:
            facts["units"] = w[1]
        elif c.name == "timestep" and len(w) > 1:
            facts["timestep"] = _number(w[1])
        elif c.name == "thermo" and len(w) > 1:
            facts["thermo"] = _number(w[1])
        elif c.name == "run" and len(w) > 1 and _number(w[1]) is not None:
            facts["steps"] += int(_number(w[1]))
        elif c.name == "fix" and len(w) > 3:
            for key in ("temp", "iso", "aniso", "x", "y", "z", "tri"):
                if key in w:
                    i = w.index(key)
                    if i + 3 < len(w) and _number(w[i + 3]) is not None:
                        facts["damping"].append(("temp" if key == "temp" else "press", _number(w[i + 3])))
            if w[3] == "langevin" and len(w) > 6 and _number(w[6]) is not None:
                facts["damping"].append(("temp", _number(w[6])))
    facts["has_atoms"] = any(n in ("create_atoms", "read_data", "read_restart") for n in names)
    facts["has_potential"] = "pair_style" in names or "read_restart" in names
    facts["has_integrator"] = "minimize" in names or any(
        c.name == "fix" and len(c.words) > 3 and INTEGRATORS.match(c.words[3]) for c in cmds
    )
    facts["has_output"] = any(n in ("thermo", "thermo_style", "dump") for n in names)
    facts["has_action"] = any(n in ("run", "minimize", "write_data") for n in names)
    facts["uses_variables"] = "variable" in names or "group" in names
    return facts


def rubric(script: str, check: SandboxResult | None, run: SandboxResult | None) -> Grades:
    """Points and penalties from the script and the sandbox's results (no model involved)."""
    facts = _script_facts(script)
    points: dict[str, float] = {}
    penalties: dict[str, float] = {}
    assumed: list[str] = []
    checked = bool(check and check.get("status") == "ok")
    ran = bool(run and run.get("status") == "ok")
    issues = " ".join(health_of(run).get("issues", [])).lower()
    warnings = " ".join((run or check or {}).get("warnings", [])).lower()

    points["runs_to_end"] = 3 if ran else 0
    points["current_syntax"] = 1 if checked and "deprecated" not in warnings else 0
    for item in ("box_fits", "boundaries_fit", "computes_defined"):
        points[item] = 1 if ran else 0
        if ran:
            assumed.append(item)
    points["potential_ok"] = 2 if checked else 0
    lo_hi = TIMESTEP.get(facts["units"])
    dt = facts["timestep"] or DEFAULT_TIMESTEP.get(facts["units"])
    points["timestep_fits"] = 1 if (lo_hi is None or (dt is not None and lo_hi[0] <= dt <= lo_hi[1])) else 0
    good_damping = all(
        (10 * (dt or 1) <= d <= 1000 * (dt or 1))
        if kind == "temp"
        else (100 * (dt or 1) <= d <= 10000 * (dt or 1))
        for kind, d in facts["damping"]
    )
    points["damping_fits"] = 1 if good_damping else 0
    chain = facts["has_atoms"] and facts["has_potential"] and facts["has_integrator"] and facts["has_output"]
    points["full_chain"] = 1 if chain else 0
    points["variables_groups"] = 1 if facts["uses_variables"] else 0
    points["run_present"] = 1 if facts["has_action"] else 0
    every = facts["thermo"]
    points["output_frequency"] = 1 if every and facts["steps"] and 2 <= facts["steps"] / every <= 10000 else 0
    points["no_nan_lost"] = (
        2 if ran and not re.search(r"non-finite|atom count dropped|blew up", issues) else 0
    )
    points["small_drift"] = 3 if ran and "drift" not in issues else 0
    points["stable"] = 1 if ran and not re.search(r"temperature .* far|pressure blew", issues) else 0

    if not checked:
        penalties["fails_at_start"] = 6
    elif run and run.get("status") != "ok":
        penalties["fails_at_start" if not run.get("final_step") else "crashes_mid_run"] = (
            6 if not run.get("final_step") else 4
        )
    error = (error_of(run) or error_of(check)).get("message", "") or ""
    if re.search(r"potential file|units|elements? .* not found|incorrect format in .*potential", error, re.I):
        penalties["potential_units_mismatch"] = 3
    if ran and not run.get("thermo"):
        penalties["no_output"] = 2
    if re.search(r"non-finite|blew up", issues):
        penalties["diverges"] = 2
    return {
        "points": points,
        "penalties": penalties,
        "assumed": assumed,
        "facts": {"units": facts["units"], "timestep": dt, "steps": facts["steps"]},
    }


def score(grades: Grades, judge: Verdict | None) -> float:
    """MDAgent2's mapping of points and penalties to [0, 1]."""
    points = sum(grades["points"].values())
    penalties = sum(grades["penalties"].values())
    if judge is not None:
        completion = 0.0 if judge.get("does_other_task") else float(judge.get("task_completion", 0))
        points += completion
        if judge.get("does_other_task"):
            penalties += 20
    else:
        points *= 30 / RUBRIC_MAX
    total = max(-10.0, min(30.0, points - penalties))
    return round((total + 10) / 40, 4)


def problems(check: SandboxResult | None, run: SandboxResult | None, judge: Verdict | None) -> list[str]:
    """What must change, in words a repair prompt (and a user) can act on."""
    out: list[str] = []
    if check and check.get("status") != "ok":
        out.append(_describe(check, "The check (LAMMPS dry run) failed"))
    elif run and run.get("status") != "ok":
        out.append(_describe(run, f"The run ended with status '{run.get('status')}'"))
    if run and run.get("status") == "ok":
        out += [f"Health: {issue}" for issue in run.get("health", {}).get("issues", [])]
    if judge and (judge.get("does_other_task") or judge.get("task_completion", 10) < 5):
        out.append(f"Task fidelity {judge.get('task_completion')}/10: {judge.get('comments', '')}".strip())
    return out


def run_summary(run: SandboxResult) -> str:
    """One paragraph on how a run went, for a judge model: status, final step, the error if any, health,
    and the first and last thermo rows (the critique's judge and ``mdbot eval code``'s grader both read it)."""
    health = health_of(run)
    parts = [f"status {run.get('status')}, final step {run.get('final_step')}"]
    if run.get("error"):
        parts.append(f"error: {(run['error'].get('message') or '')[:300]}")
    parts.append(
        "health ok" if health.get("ok", True) else "health issues: " + "; ".join(health.get("issues", []))
    )
    for table in run.get("thermo", [])[-1:]:
        if table.get("rows"):
            parts.append(
                f"thermo columns {table['columns']}; first row {table['rows'][0]}; last row {table['rows'][-1]}"
            )
    return ". ".join(parts)


def ran(attempt: Attempt) -> bool:
    """The attempt's script ran to the end in the sandbox."""
    return bool(attempt["run"] and attempt["run"].get("status") == "ok")


def judge_messages(task: str, attempt: Attempt) -> list[BaseMessage]:
    """What the judge model sees: the task, the script and how its run went."""
    run = run_summary(attempt["run"])
    request = prompts.JUDGE_REQUEST.format(task=task, script=attempt["script"], run=run)
    return [SystemMessage(prompts.JUDGE_SYSTEM), HumanMessage(request)]


def assess(attempt: Attempt, judge: Verdict | None) -> Critique:
    """The critique of an attempt: the rubric, the judge's verdict (None: none asked), the score, what must
    change, and whether it succeeded (ran, healthy, and the judge found it does the task)."""
    check, run = attempt["check"], attempt["run"]
    grades = rubric(attempt["script"], check, run)
    did_run = ran(attempt)
    health_ok = did_run and health_of(run).get("ok", True)
    fidelity_ok = judge is None or (not judge["does_other_task"] and judge["task_completion"] >= 5)
    return {
        **grades,
        "judge": judge,
        "score": score(grades, judge),
        "problems": problems(check, run, judge),
        "ran": did_run,
        "health_ok": bool(health_ok),
        "success": bool(did_run and health_ok and fidelity_ok),
    }


def _describe(result: SandboxResult, lead: str) -> str:
    err = error_of(result)
    parts = [f"{lead}: {err.get('message', 'no error message')}"]
    if err.get("command"):
        where = f" (line {err['line']})" if err.get("line") else ""
        parts.append(f"Offending command{where}: {err['command']}")
    if err.get("hint"):
        parts.append(f"Hint: {err['hint']}")
    return "\n".join(parts)
