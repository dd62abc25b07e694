"""The reply of a script turn: what ran, how it went, what was repaired, the final script.

Markdown (the console renders it; the bot converts it to Slack mrkdwn). Pictures and the script itself go
out as files too; the text keeps everything a reader needs to trust the result.
"""

from __future__ import annotations

from .state import (
    Attempt,
    Outcome,
    SandboxResult,
    State,
    error_of,
    health_of,
    result_of,
    score_of,
    succeeded,
)

ORIGIN = {
    "user": "your script",
    "model": "written by the code model",
    "repair:model": "repaired by the code model",
    "repair:potential": "potential file fixed",
    "repair:mass": "masses added",
    "repair:style": "style name fixed",
    "edit:rules": "your previous script, edited as asked",
}


def best_attempt(attempts: list[Attempt]) -> Attempt:
    """The first that succeeded, else the one that got furthest (highest rubric score, latest on ties)."""
    for a in attempts:
        if succeeded(a):
            return a
    return max(reversed(attempts), key=score_of)


def _status_line(a: Attempt) -> str:
    check = a["check"]
    if check["status"] != "ok":
        return f"check {check['status']}: {error_of(check).get('message', '').rstrip('.')}"
    run = result_of(a)  # the check passed: the run
    if run["status"] != "ok":
        return f"run {run['status']}: {error_of(run).get('message', '').rstrip('.')}"
    health = health_of(run)
    if not health.get("ok", True):
        return "ran; health: " + "; ".join(health.get("issues", []))
    if not succeeded(a):
        return "ran; " + "; ".join(a["critique"]["problems"] if a["critique"] else [])[:200]
    verdict = health.get("verdict", "ran")
    state = {"equilibrating": "not equilibrated yet", "equilibrated": "equilibrated"}.get(verdict, "healthy")
    return f"ran to step {run.get('final_step')}, {state}"


def outcome_of(attempts: list[Attempt], state_outcome: str) -> Outcome:
    """The turn's outcome: a success, the user's script refused, the loop stuck or an endpoint error, else failed."""
    if any(succeeded(a) for a in attempts):
        return "success"
    last = attempts[-1]
    if last["check"]["status"] == "rejected" and last["origin"] == "user":
        return "rejected"
    if state_outcome in ("stuck", "error"):
        return state_outcome
    return "failed"


def _success_line(best: Attempt, budget: int) -> str:
    run = result_of(best)  # it ran
    lead = "**The script runs**" if best["origin"] != "user" else "**Your script runs**"
    perf = run.get("performance", {}).get("timesteps_per_s")
    head = (
        f"{lead} (attempt {best['n']} of {budget}): final step {run.get('final_step')}, "
        f"{run.get('wall_s', 0):.1f} s" + (f", {perf:,.0f} timesteps/s" if perf else "")
    )
    health = health_of(run)
    verdict, reason = health.get("verdict", "ran"), health.get("reason", "")
    if verdict == "equilibrating":
        return f"{head}. **Not equilibrated yet** — {reason.removeprefix('not equilibrated yet: ')}."
    if verdict == "equilibrated":
        return f"{head}; {reason}."
    return f"{head}; no health problem found (nothing to compare the temperature with)."


def thermo_lines(run: SandboxResult | None) -> list[str]:
    """A short thermo summary of the last run (first → last, late mean ± fluctuation)."""
    from mdbot.sandbox.health import thermo_summary

    tables = [t for t in (run or {}).get("thermo", []) if t.get("rows")]
    if not tables:
        return []
    last = tables[-1]
    rows = last.get("rows_total") or len(last["rows"])
    summary = thermo_summary(last["columns"], last["rows"])
    which = f"run {len(tables)} of {len(tables)}, " if len(tables) > 1 else ""
    return ["", f"Thermo ({which}{rows} rows): " + "; ".join(summary) + ".", ""] if summary else []


def _lead_lines(state: State, best: Attempt, outcome: Outcome, budget: int) -> list[str]:
    """How the turn went: the script runs, the sandbox refused it, or why no attempt ran cleanly."""
    if outcome == "success":
        return [_success_line(best, budget)]
    if outcome == "rejected":
        err = error_of(best["check"])
        lines = [f"**The sandbox refused this script:** {err.get('message', '')}"]
        return lines + ([f"_{err['hint']}_"] if err.get("hint") else [])
    n = len(state["attempts"])
    why = {
        "stuck": "the repairs kept repeating a script that had already failed",
        "error": state.get("feedback") or "the model endpoint failed",
    }.get(outcome, f"{n} attempt{'s' if n > 1 else ''} used")
    lines = [
        f"**No attempt ran cleanly** ({why}). The closest was attempt {best['n']}: {_status_line(best)}."
    ]
    err = error_of(best["run"]) or error_of(best["check"])
    if err.get("command"):
        where = f"line {err.get('line')}"
        first = state["attempts"][0]
        if first["origin"] == "user" and best is not first and err.get("line"):
            from .repair import in_original

            where = in_original(where, first["script"], best["script"]) + " of your script"
        lines.append(f"Failing command ({where}): `{err['command']}`")
    if err.get("hint"):
        lines.append(f"Hint: {err['hint']}")
    return lines


def _fixes_origin(origin: str) -> str:
    """``repair:style+mass`` → "style name fixed, masses added"."""
    if origin.startswith("repair:") and "+" in origin:
        return ", ".join(ORIGIN.get(f"repair:{k}", k) for k in origin[len("repair:") :].split("+"))
    return origin


def _critique_lines(best: Attempt) -> list[str]:
    """The critique's score, the judge's grade and the run's health issues."""
    c = best["critique"]
    if not c:
        return []
    judge = c["judge"]
    extra = (
        f"; judge: task {judge['task_completion']:g}/10, physics {judge['physics']:g}/10"
        + (f" — {judge['comments'].rstrip('.')}" if judge["comments"] else "")
        if judge
        else ""
    )
    lines = [f"Critique score {c['score']:.2f}{extra}."]
    health = health_of(best["run"]).get("issues", [])
    return lines + (["Health: " + "; ".join(health)] if health else [])


def _notes(best: Attempt) -> list[str]:
    """What the sandbox did on the script's behalf (``shell mkdir`` done for it, say), once each."""
    notes = [n for result in (best["check"], best["run"]) if result for n in result.get("notes", [])]
    return [f"_Note: {n}_" for n in dict.fromkeys(notes)]


def script_reply(state: State, budget: int) -> tuple[str, Outcome, Attempt]:
    """(the reply in Markdown, the turn's outcome, the attempt whose script the thread keeps)."""
    attempts = state["attempts"]
    best = best_attempt(attempts)
    outcome = outcome_of(attempts, state.get("outcome", ""))
    lines = _lead_lines(state, best, outcome, budget) + _notes(best)
    if outcome != "rejected":
        lines += thermo_lines(best["run"]) + _critique_lines(best)
    if len(attempts) > 1 or best["changes"]:
        lines.append("")
        lines.append("Attempts:")
        for a in attempts:
            origin = ORIGIN.get(a["origin"]) or _fixes_origin(a["origin"])
            lines.append(f"{a['n']}. {origin} — {_status_line(a)}")
            for change in a["changes"]:
                lines.append(f"   - {change}")
    lines += ["", "```lammps", best["script"].rstrip(), "```"]
    if outcome != "success":
        tail = result_of(best).get("console_tail")
        if tail:
            lines += ["", "Log tail:", "```", "\n".join(tail.splitlines()[-15:]), "```"]
    run = best["run"]
    if run and run.get("workdir"):
        names = ", ".join(f["name"] for f in run.get("files", []))
        lines += ["", f"Files ({run['workdir']}): {names}"]
    return "\n".join(lines).strip(), outcome, best
