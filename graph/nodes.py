"""The graph's nodes: plain functions of (state, runtime) that return partial state updates.

Each node says what it is doing on LangGraph's custom stream (``{"stage": …, "text": …}``) so the console
and Slack can show progress. Nothing here raises for a bad input or an unreachable model: the turn ends with
an answer that says what went wrong. Model calls go through ``calls.Calls`` (the budget and the journal's
record of them), prompts come from ``prompts``, and knowledge from ``passages``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from . import critique as crit
from . import prompts
from .calls import Calls, model_error
from .configuration import Context
from .intent import attached_script, extract_script, guess_intent, rule_intent, script_in_message
from .passages import (
    manual_excerpt,
    numbered_passages,
    offline_answer,
    offline_examples,
    references,
    search,
    with_scripts,
)
from .repair import all_fixes, repeats
from .state import Attempt, Intent, SandboxResult, State, Verdict, error_of, new_turn, result_of, succeeded
from .structure import named_in_docs
from .verify import check_answer, citations

log = logging.getLogger(__name__)


class RouteDecision(BaseModel):
    intent: Intent = Field(description="qa, generate or help")
    reason: str = Field("", description="one short sentence")


def _emit(runtime: Runtime[Context], stage: str, text: str, **extra: Any) -> None:
    runtime.stream_writer({"stage": stage, "text": text, **extra})


def _history(state: State, ctx: Context) -> list[BaseMessage]:
    """Earlier messages of the thread (not the current request), newest last."""
    earlier = list(state.get("messages", []))[:-1]
    keep = ctx.settings.history_turns
    return earlier[-keep:] if keep else []


# ------------------------------------------------------------------------------------------------ route
def route(state: State, runtime: Runtime[Context]) -> dict:
    """Decide the intent: rules first, then the instruct model, then keywords (offline)."""
    ctx = runtime.context
    _emit(runtime, "routing", "Reading your message…")
    text = state.get("request", "")
    fresh = new_turn()
    calls = Calls({**state, **fresh}, ctx)
    decided = (
        _rules(state, ctx, text)
        or _ask_router(state, ctx, calls, text)
        or guess_intent(text, bool(state.get("script")))
    )
    intent, reason = decided
    _emit(runtime, "routed", f"Intent: {intent}", intent=intent)
    return {**fresh, **calls.update(), "intent": intent, "route_reason": reason}


def _rules(state: State, ctx: Context, text: str) -> tuple[str, str] | None:
    """The caller's forced intent, else the rules (an attached or pasted script, an error, a help request)."""
    forced = state.get("force_intent")
    if forced in ("qa", "generate", "help"):
        return forced, "set by the caller"
    attached = {n: state.get("files", {}).get(n, "") for n in state.get("attached", [])}
    decided = rule_intent(text, attached, ctx.command_names())
    if decided is None and named_in_docs(text, ctx.searcher):
        return "structure", "a molecule the lab's docs give a SMILES for, to simulate"
    return decided


def _ask_router(state: State, ctx: Context, calls: Calls, text: str) -> tuple[str, str] | None:
    """The instruct model's reading of the message; None without a model or a usable answer."""
    if ctx.instruct is None:
        return None
    has = "There is an earlier script in this conversation." if state.get("script") else ""
    messages = [
        SystemMessage(prompts.ROUTER_SYSTEM.format(has_script=has)),
        *_history(state, ctx),
        HumanMessage(text),
    ]
    try:
        choice = calls.structured("instruct", "route", RouteDecision, messages)
    except Exception as exc:  # noqa: BLE001 - an unreachable model must not end the turn
        log.warning("routing model failed: %s", exc)
        return None
    if choice and choice.intent in ("qa", "generate", "help"):
        return choice.intent, choice.reason or "the model's reading"
    return None


def after_route(state: State) -> Literal["retrieve", "gather", "prepare_run", "explain", "help", "structure"]:
    return {
        "structure": "structure",
        "qa": "retrieve",
        "generate": "gather",
        "run": "prepare_run",
        "explain": "explain",
        "help": "help",
    }[state["intent"]]


# ------------------------------------------------------------------------------------------------ Q&A
def retrieve(state: State, runtime: Runtime[Context]) -> dict:
    ctx = runtime.context
    _emit(runtime, "retrieving", "Searching the manual and the lab's documents…")
    passages, problem = search(ctx, state.get("request", ""), ctx.settings.qa_passages)
    update: dict = {"passages": passages}
    if problem:
        update["feedback"] = problem
    return update


def answer(state: State, runtime: Runtime[Context]) -> dict:
    """Answer from the passages with numbered citations, then strip invented commands."""
    ctx = runtime.context
    passages = state.get("passages", [])
    calls = Calls(state, ctx)
    if not calls.has("instruct"):
        why = "no language model is configured (set MDBOT_LLM_INSTRUCT_BASE_URL)"
        if ctx.instruct is not None:
            why = "the model-call budget of this request is spent"
        return _offline(state, ctx, passages, why)
    _emit(runtime, "writing", "Writing the answer…")
    messages = [
        SystemMessage(prompts.ANSWER_SYSTEM.format(passages=numbered_passages(passages))),
        *_history(state, ctx),
        HumanMessage(state.get("request", "")),
    ]
    try:
        text = calls.text("instruct", "answer", messages)
    except Exception as exc:  # noqa: BLE001
        return {**_offline(state, ctx, passages, model_error(exc)), **calls.update()}
    verdict = check_answer(text, ctx.command_checker())
    text, cites = citations(verdict.text, passages)
    return {
        "answer": text,
        "citations": cites,
        "flagged": verdict.removed,
        "outcome": "answered",
        **calls.update(),
    }


def _offline(state: State, ctx: Context, passages: list[dict], why: str) -> dict:
    """The reply without a model: the manual's paragraphs that answer the question, cited."""
    from .offline import offline_reply

    text, pages = offline_reply(ctx, state.get("request", ""), passages, why)
    if not text:
        text, pages = offline_answer(passages, why, state.get("feedback", "")), passages[:5]
    text, cites = citations(text, pages)
    return {"answer": text, "citations": cites, "outcome": "offline"}


# ------------------------------------------------------------------------------------- explain / help
def explain(state: State, runtime: Runtime[Context]) -> dict:
    """A LAMMPS ERROR or WARNING in the message: what it means, likely fixes, the command's syntax and the
    manual's entry (no model needed, ``errors``); the instruct model's words on top when there is one."""
    ctx = runtime.context
    text = state.get("request", "")
    _emit(runtime, "diagnosing", "Reading the error…")
    found = _diagnose(ctx, text)
    if found is None:
        return {"answer": "I found no LAMMPS `ERROR:` or `WARNING:` line to explain.", "outcome": "answered"}
    diagnosis, passages = found
    calls = Calls(state, ctx)
    if calls.has("instruct"):
        _emit(runtime, "writing", "Explaining…")
        system = prompts.EXPLAIN_SYSTEM.format(
            diagnosis=diagnosis, passages=numbered_passages(passages, 1000)
        )
        messages = [SystemMessage(system), HumanMessage(text[-6000:])]
        try:
            body = check_answer(calls.text("instruct", "explain", messages), ctx.command_checker()).text
            text_out, cites = citations(diagnosis + "\n\n" + body, passages)
            return {"answer": text_out, "citations": cites, "outcome": "answered", **calls.update()}
        except Exception as exc:  # noqa: BLE001 - an unreachable model leaves the rule-based explanation
            diagnosis += f"\n\n_({model_error(exc)}; the explanation above needs no model.)_"
    text_out, cites = citations(diagnosis, passages)
    return {"answer": text_out, "citations": cites, "outcome": "answered", **calls.update()}


def _diagnose(ctx: Context, text: str) -> tuple[str, list[dict]] | None:
    """The explanation of the message's ERROR/WARNING in Markdown and the pages it cites; None: neither."""
    from mdbot.sandbox.diagnose import diagnose
    from mdbot.sandbox.logparse import LogError, parse_text
    from mdbot.sandbox.script import commands

    from . import errors

    msg = errors.find_message(text)
    if msg is None:
        return None
    where, hint = "", None
    if msg.kind == "ERROR":
        parsed = parse_text(text).error
        err = parsed if parsed is not None else LogError(msg.text)
        d = diagnose(err, [("in.lammps", commands(text))], ctx.capabilities(), ctx.potentials(), [])
        hint = d.hint
        if d.command:
            where = f"*Command:* `{d.command}`" + (f" (line {d.line})" if d.line else "")
    ex = errors.explain(ctx, text, hint)
    return errors.render(ex, where), ex.pages


def help_(state: State, runtime: Runtime[Context]) -> dict:
    return {
        "answer": prompts.HELP_TEXT.format(budget=runtime.context.settings.attempt_budget),
        "outcome": "answered",
    }


# -------------------------------------------------------------------------------------------- scripts
def prepare_run(state: State, runtime: Runtime[Context]) -> dict:
    """The user's own script: from the attachment or the message's code block."""
    files = state.get("files", {})
    attached = {n: files[n] for n in state.get("attached", []) if n in files}
    name = attached_script(attached)
    try:
        if name:
            from mdbot.sandbox.jobs import read_script  # the sandbox's own reader: same limits and decoding

            _staged_as, script = read_script(Path(files[name]))
        else:
            script = script_in_message(state.get("request", ""), runtime.context.command_names())
    except (OSError, ValueError) as exc:
        return {"outcome": "rejected", "answer": f"I could not read the attached script: {exc}"}
    if not script or not script.strip():
        return {"outcome": "rejected", "answer": "I found no LAMMPS script to run in the message."}
    if not state.get("may_run", True):
        return {"outcome": "not_run", "answer": prompts.NOT_PERMITTED}
    return {"script": script, "origin": "user", "changes": [], "script_file": name or ""}


def after_prepare(state: State) -> Literal["respond", "validate"]:
    return "respond" if state.get("outcome") in ("rejected", "not_run") else "validate"


def gather(state: State, runtime: Runtime[Context]) -> dict:
    """Example scripts and manual pages for the code model (and for the offline answer)."""
    ctx = runtime.context
    if ctx.code is None and state.get("script"):
        return {}  # an edit of the thread's script by rules (``write``) needs no reference material
    _emit(runtime, "retrieving", "Looking up example scripts and manual pages…")
    query = state.get("request", "")
    examples, _ = search(ctx, query, ctx.settings.example_scripts, kinds={"examples"})
    docs, problem = search(ctx, query, 4, kinds={"manual", "docs", "potentials"})
    return {"examples": with_scripts(examples), "passages": docs, "feedback": problem or ""}


def _code_system(state: State, ctx: Context) -> SystemMessage:
    """The code model's instructions: the installed version, the attached files, the reference material."""
    caps = ctx.capabilities()
    files = ", ".join(n for n in state.get("files", {}) if n != state.get("script_file")) or "none"
    return SystemMessage(
        prompts.CODE_SYSTEM.format(
            version=caps.version if caps else "unknown",
            files=files,
            references=references(state.get("examples", []), state.get("passages", [])),
        )
    )


def write(state: State, runtime: Runtime[Context]) -> dict:
    """The code model writes the script (or, offline, the closest examples are offered)."""
    ctx = runtime.context
    if ctx.code is None:
        return _rule_edit(state) if state.get("script") else {
            "outcome": "offline", "answer": offline_examples(state.get("examples", []))
        }  # fmt: skip
    _emit(runtime, "writing", "Writing the input script…")
    calls = Calls(state, ctx)
    previous = prompts.PREVIOUS_SCRIPT.format(script=state["script"].strip()) if state.get("script") else ""
    request = prompts.CODE_REQUEST.format(task=state.get("request", ""), previous=previous)
    messages = [_code_system(state, ctx), *_history(state, ctx), HumanMessage(request)]
    try:
        script = _script_from(calls, messages)
    except Exception as exc:  # noqa: BLE001
        return {
            "outcome": "error",
            "answer": f"I could not write the script: {model_error(exc)}.",
            **calls.update(),
        }
    if not script:
        return {
            "outcome": "failed",
            "answer": "The code model did not produce a LAMMPS script.",
            **calls.update(),
        }
    if not state.get("may_run", True):
        body = f"Here is the script; it has not been checked or run.\n\n```lammps\n{script.strip()}\n```"
        return {
            "script": script,
            "outcome": "not_run",
            "answer": f"{body}\n\n_{prompts.NOT_PERMITTED}_",
            **calls.update(),
        }
    return {"script": script, "origin": "model", "changes": [], **calls.update()}


def _rule_edit(state: State) -> dict:
    """Without a code model: the follow-up's common edits applied to the thread's script by rules (shown as
    a diff, then run like any script), or a plain word that the rest needs a model."""
    from .followup import WHAT, edit

    done = edit(state["script"], state.get("request", ""))
    if done is None or not any(not c.startswith("not changed") for c in done.changes):
        return {"outcome": "offline", "answer": prompts.NEEDS_MODEL.format(what=WHAT)}
    preface = "I changed the thread's latest script by rules (no model needed):\n" + "\n".join(
        f"- {c}" for c in done.changes
    )
    preface += f"\n\n```diff\n{done.diff.rstrip()}\n```"
    if not state.get("may_run", True):
        return {"script": done.script, "outcome": "not_run", "answer": f"{preface}\n\n_{prompts.NOT_PERMITTED}_"}
    return {"script": done.script, "origin": "edit:rules", "changes": [], "preface": preface}


def _script_from(calls: Calls, messages: list[BaseMessage]) -> str | None:
    """The script of the code model's reply; a reply without one gets one reminder (budget allowing)."""
    for _ in range(2):
        if calls.left <= 0:
            break
        reply = calls.text("code", "generate", messages)
        script = extract_script(reply)
        if script:
            return script
        messages += [AIMessage(reply), HumanMessage(prompts.SCRIPT_REMINDER)]
    return None


def after_write(state: State) -> Literal["respond", "validate"]:
    return "respond" if state.get("outcome") in ("offline", "failed", "error", "not_run") else "validate"


def _staged(state: State) -> list[Path]:
    skip = state.get("script_file")
    return [Path(p) for n, p in state.get("files", {}).items() if n != skip]


def validate(state: State, runtime: Runtime[Context]) -> dict:
    """Policy + LAMMPS ``-skiprun`` + a zero-step setup: cheap, and most errors show here."""
    from mdbot.sandbox.jobs import JobInputError, check

    ctx = runtime.context
    n = len(state.get("attempts", [])) + 1
    _emit(runtime, "checking", f"Attempt {n}: checking the script…", attempt=n)
    try:
        result: SandboxResult = check(state["script"], _staged(state), settings=ctx.sandbox).model_dump()
    except JobInputError as exc:
        result = {"status": "rejected", "error": {"message": str(exc)}, "warnings": []}
    attempt: Attempt = {
        "n": n,
        "origin": state.get("origin") or "model",
        "script": state["script"],
        "check": result,
        "run": None,
        "critique": None,
        "changes": list(state.get("changes", [])),
    }
    return {"attempts": [*state.get("attempts", []), attempt]}


def after_validate(state: State) -> Literal["execute", "critique"]:
    return "execute" if state["attempts"][-1]["check"]["status"] == "ok" else "critique"


def execute(state: State, runtime: Runtime[Context]) -> dict:
    from mdbot.sandbox.jobs import JobInputError, run

    ctx = runtime.context
    attempts = list(state["attempts"])
    n = attempts[-1]["n"]
    _emit(runtime, "running", f"Attempt {n}: running LAMMPS in the sandbox…", attempt=n)
    try:
        result: SandboxResult = run(
            state["script"],
            _staged(state),
            ranks=ctx.settings.run_ranks,
            timeout=min(ctx.settings.run_timeout_s, ctx.sandbox.max_timeout_s),
            settings=ctx.sandbox,
        ).model_dump()
    except JobInputError as exc:
        result = {"status": "rejected", "error": {"message": str(exc)}, "warnings": [], "health": {}}
    attempts[-1] = {**attempts[-1], "run": result}
    return {"attempts": attempts}


def critique(state: State, runtime: Runtime[Context]) -> dict:
    """The sandbox's verdict and the rubric; the judge on task fidelity when the script ran."""
    ctx = runtime.context
    attempts = list(state["attempts"])
    last = attempts[-1]
    _emit(runtime, "critiquing", f"Attempt {last['n']}: reviewing the result…", attempt=last["n"])
    calls = Calls(state, ctx)
    result = crit.assess(last, _judge(state, ctx, calls, last))
    attempts[-1] = {**last, "critique": result}
    return {"attempts": attempts, "feedback": "\n\n".join(result["problems"]), **calls.update()}


def _judge(state: State, ctx: Context, calls: Calls, last: Attempt) -> Verdict | None:
    """The judge's verdict on a generated script that ran; None when not asked or when it failed."""
    wanted = crit.ran(last) and ctx.settings.judge and state.get("intent") == "generate"
    if not (wanted and calls.has("judge")):
        return None
    messages = crit.judge_messages(state.get("request", ""), last)
    try:
        verdict = calls.structured("judge", "critique", crit.JudgeVerdict, messages)
    except Exception as exc:  # noqa: BLE001 - a judge outage leaves the sandbox's verdict
        log.warning("judge failed: %s", exc)
        return None
    return verdict.model_dump() if verdict else None


def after_critique(state: State, runtime: Runtime[Context]) -> Literal["respond", "repair"]:
    last = state["attempts"][-1]
    if succeeded(last):
        return "respond"
    if last["check"]["status"] == "rejected" and last["origin"] == "user":
        return "respond"  # the user's script breaks the policy: say so, do not rewrite it
    if len(state["attempts"]) >= runtime.context.settings.attempt_budget:
        return "respond"
    return "repair"


def repair(state: State, runtime: Runtime[Context]) -> dict:
    """Deterministic fixes first; then the code model with targeted feedback; the loop guard throughout."""
    ctx = runtime.context
    attempts = state["attempts"]
    last = attempts[-1]
    n = last["n"]
    error = error_of(result_of(last))  # the run's when the check passed, else the check's
    caps = ctx.capabilities()
    original = attempts[0]["script"] if attempts[0]["origin"] == "user" else last["script"]
    fixed = all_fixes(
        last["script"], error, ctx.potentials(), caps.styles if caps else None,
        lambda script: _check_error(state, ctx, script), original,
    )  # fmt: skip
    if fixed and repeats(fixed[0], attempts) is None:
        script, kinds, changes = fixed
        for change in changes:
            _emit(runtime, "repairing", f"Attempt {n}: {change}", attempt=n, how=kinds[0])
        return {"script": script, "origin": "repair:" + "+".join(dict.fromkeys(kinds)), "changes": changes}
    if ctx.code is None:
        return {
            "outcome": "failed",
            "feedback": state.get("feedback", "")
            + "\n\n(No model is configured to repair it further: set MDBOT_LLM_INSTRUCT_BASE_URL.)",
        }
    _emit(runtime, "repairing", f"Attempt {n}: asking the code model for a fix…", attempt=n, how="model")
    return _model_repair(state, runtime, _repair_messages(state, ctx, error.get("command")))


def _check_error(state: State, ctx: Context, script: str) -> dict | None:
    """The error of checking a repaired script (None: it passes), between two deterministic fixes."""
    from mdbot.sandbox.jobs import JobInputError, check

    try:
        result = check(script, _staged(state), settings=ctx.sandbox)
    except JobInputError as exc:
        return {"message": str(exc)}
    return None if result.status == "ok" else (result.error.model_dump() if result.error else {"message": ""})


def _repair_messages(state: State, ctx: Context, command: str | None) -> list[BaseMessage]:
    """The repair request: the task, the failing script, what went wrong, the failing command's manual page."""
    last = state["attempts"][-1]
    manual = ""
    if command:
        pages, _ = search(ctx, command, 1, kinds={"manual"})
        manual = manual_excerpt(pages[0]) if pages else ""
    task = state.get("request", "")
    if last["origin"] == "user" or state.get("intent") == "run":
        task = prompts.USER_SCRIPT_TASK.format(task=task)
    request = prompts.REPAIR_REQUEST.format(
        task=task,
        n=last["n"],
        script=last["script"].strip(),
        problem=state.get("feedback") or "unknown",
        manual=manual,
    )
    return [_code_system(state, ctx), HumanMessage(request)]


def _model_repair(state: State, runtime: Runtime[Context], messages: list[BaseMessage]) -> dict:
    """Ask the code model until it sends a script not tried yet; a repeat changes the strategy (loop guard)."""
    calls = Calls(state, runtime.context)
    attempts = state["attempts"]
    guard_hits = state.get("guard_hits", 0)
    while calls.left > 0:
        try:
            reply = calls.text("code", "repair", messages)
        except Exception as exc:  # noqa: BLE001
            return {
                "outcome": "error",
                "feedback": model_error(exc),
                "guard_hits": guard_hits,
                **calls.update(),
            }
        script = extract_script(reply)
        if script is None:
            messages += [AIMessage(reply), HumanMessage(prompts.REPAIR_REMINDER)]
            continue
        same_as = repeats(script, attempts)
        if same_as is None:
            return {
                "script": script,
                "origin": "repair:model",
                "changes": [],
                "guard_hits": guard_hits,
                **calls.update(),
            }
        guard_hits += 1
        n = attempts[-1]["n"]
        _emit(runtime, "guard", f"The proposed fix repeats attempt {same_as}; changing strategy…", attempt=n)
        if guard_hits > 2:
            break
        messages += [AIMessage(reply), HumanMessage(_guard_prompt(state, guard_hits))]
    return {"outcome": "stuck" if guard_hits else "budget", "guard_hits": guard_hits, **calls.update()}


def _guard_prompt(state: State, guard_hits: int) -> str:
    """After a repeat: first ask for a different approach, then to start over from an example script."""
    if guard_hits == 1 or not state.get("examples"):
        return prompts.GUARD_DIFFERENT
    ex = state["examples"][0]
    return prompts.GUARD_FROM_EXAMPLE.format(example=ex.get("script") or ex["text"])


def after_repair(state: State) -> Literal["respond", "validate"]:
    return "respond" if state.get("outcome") in ("failed", "error", "stuck", "budget") else "validate"


# ------------------------------------------------------------------------------------------- respond
def respond(state: State, runtime: Runtime[Context]) -> dict:
    """Compose the reply of a script turn (Q&A turns have theirs already) and add it to the thread."""
    update: dict = {}
    attempts = state.get("attempts", [])
    if attempts:
        from .report import script_reply

        text, outcome, best = script_reply(state, runtime.context.settings.attempt_budget)
        before = [p for p in (state.get("preface"), "\n".join(state.get("build_notes", []))) if p]
        text = "\n\n".join([*before, text])  # a built structure: its summary and how it was built come first
        update = {"answer": text, "outcome": outcome, "script": best["script"]}
    text = update.get("answer", state.get("answer", "")) or "I have nothing to say to that."
    return {**update, "messages": [AIMessage(text)]}
