"""The reply of a script turn: what ran, how it went, what was repaired, the final script.

Markdown (the console renders it; the bot converts it to Slack mrkdwn). Pictures and the script itself go
out as files too; the text keeps everything a reader needs to trust the result.
"""

from __future__ import annotations

from .state import Attempt, State

ORIGIN = {
    "user": "your script",
    "model": "written by the code model",
    "repair:model": "repaired by the code model",
    "repair:potential": "potential file fixed",
    "repair:mass": "masses added",
    "repair:style": "style name fixed",
}


def best_attempt(attempts: list[Attempt]) -> Attempt:
    """The first that succeeded, else the one that got furthest (highest rubric score, latest on ties)."""
    for a in attempts:
        if (a.get("critique") or {}).get("success"):
            return a
    return max(reversed(attempts), key=lambda a: (a.get("critique") or {}).get("score", 0.0))


def _status_line(a: Attempt) -> str:
    check, run = a.get("check") or {}, a.get("run") or {}
    if check.get("status") != "ok":
        err = (check.get("error") or {}).get("message", "").rstrip(".")
        return f"check {check.get('status')}: {err}"
    if run.get("status") != "ok":
        err = (run.get("error") or {}).get("message", "").rstrip(".")
        return f"run {run.get('status')}: {err}"
    health = run.get("health") or {}
    if not health.get("ok", True):
        return "ran; health: " + "; ".join(health.get("issues", []))
    c = a.get("critique") or {}
    if not c.get("success"):
        return "ran; " + "; ".join(c.get("problems", []))[:200]
    return f"ran to step {run.get('final_step')}, healthy"


def outcome_of(attempts: list[Attempt], state_outcome: str) -> str:
    if any((a.get("critique") or {}).get("success") for a in attempts):
        return "success"
    last = attempts[-1]
    if last["check"].get("status") == "rejected" and last.get("origin") == "user":
        return "rejected"
    if state_outcome in ("stuck", "error"):
        return state_outcome
    return "failed"


def script_reply(state: State, budget: int) -> tuple[str, str, Attempt]:
    attempts = state["attempts"]
    best = best_attempt(attempts)
    outcome = outcome_of(attempts, state.get("outcome", ""))
    run = best.get("run") or {}
    lines: list[str] = []
    if outcome == "success":
        lead = "**The script runs**" if best.get("origin") != "user" else "**Your script runs**"
        perf = (run.get("performance") or {}).get("timesteps_per_s")
        lines.append(
            f"{lead} (attempt {best['n']} of {budget}): final step {run.get('final_step')}, "
            f"{run.get('wall_s', 0):.1f} s" + (f", {perf:,.0f} timesteps/s" if perf else "") + ", health ok."
        )
    elif outcome == "rejected":
        err = best["check"].get("error") or {}
        lines.append(f"**The sandbox refused this script:** {err.get('message', '')}")
        if err.get("hint"):
            lines.append(f"_{err['hint']}_")
    else:
        why = {
            "stuck": "the repairs kept repeating a script that had already failed",
            "error": state.get("feedback") or "the model endpoint failed",
        }.get(outcome, f"{len(attempts)} attempt{'s' if len(attempts) > 1 else ''} used")
        lines.append(
            f"**No attempt ran cleanly** ({why}). The closest was attempt {best['n']}: {_status_line(best)}."
        )
        err = (best.get("run") or {}).get("error") or best["check"].get("error") or {}
        if err.get("command"):
            lines.append(f"Failing command (line {err.get('line')}): `{err['command']}`")
        if err.get("hint"):
            lines.append(f"Hint: {err['hint']}")
    c = best.get("critique") or {}
    if c and outcome != "rejected":
        judge = c.get("judge")
        extra = (
            f"; judge: task {judge.get('task_completion'):g}/10, physics {judge.get('physics'):g}/10"
            + (f" — {judge['comments'].rstrip('.')}" if judge.get("comments") else "")
            if judge
            else ""
        )
        lines.append(f"Critique score {c.get('score', 0):.2f}{extra}.")
        health = (run.get("health") or {}).get("issues", [])
        if health:
            lines.append("Health: " + "; ".join(health))
    if len(attempts) > 1 or best.get("changes"):
        lines.append("")
        lines.append("Attempts:")
        for a in attempts:
            origin = ORIGIN.get(a.get("origin", ""), a.get("origin", ""))
            lines.append(f"{a['n']}. {origin} — {_status_line(a)}")
            for change in a.get("changes", []):
                lines.append(f"   - {change}")
    lines += ["", "```lammps", best["script"].rstrip(), "```"]
    if outcome != "success":
        tail = (best.get("run") or best["check"]).get("console_tail")
        if tail:
            lines += ["", "Log tail:", "```", "\n".join(tail.splitlines()[-15:]), "```"]
    if run.get("workdir"):
        names = ", ".join(f["name"] for f in run.get("files", []))
        lines += ["", f"Files ({run['workdir']}): {names}"]
    return "\n".join(lines).strip(), outcome, best
