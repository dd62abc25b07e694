"""The graph's nodes: plain functions of (state, runtime) that return partial state updates.

Each node says what it is doing on LangGraph's custom stream (``{"stage": …, "text": …}``) so the console
and Slack can show progress. Nothing here raises for a bad input or an unreachable model: the turn ends with
an answer that says what went wrong.
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
from .configuration import Context
from .intent import attached_script, extract_script, guess_intent, rule_intent, script_in_message
from .models import ask_structured, model_id, stream_text
from .repair import deterministic, repeats
from .state import Intent, State
from .verify import check_answer, citations

log = logging.getLogger(__name__)
EXAMPLE_CHARS = 4000  # of each example script shown to the code model
PASSAGE_CHARS = 1500


class RouteDecision(BaseModel):
    intent: Intent = Field(description="qa, generate or help")
    reason: str = Field("", description="one short sentence")


class JudgeVerdict(BaseModel):
    task_completion: float = Field(ge=0, le=10)
    does_other_task: bool = False
    physics: float = Field(5, ge=0, le=10)
    comments: str = ""


def _emit(runtime: Runtime[Context], stage: str, text: str, **extra: Any) -> None:
    runtime.stream_writer({"stage": stage, "text": text, **extra})


def _history(state: State, ctx: Context) -> list[BaseMessage]:
    """Earlier messages of the thread (not the current request), newest last."""
    earlier = list(state.get("messages", []))[:-1]
    keep = ctx.settings.history_turns
    return earlier[-keep:] if keep else []


class _Calls:
    """Counts model calls and tokens for one node; merged into the state's totals."""

    def __init__(self, state: State, ctx: Context):
        self.count = state.get("model_calls", 0)
        self.log = list(state.get("calls", []))
        self.limit = ctx.settings.max_model_calls

    @property
    def left(self) -> int:
        return self.limit - self.count

    def run(self, role: str, model, purpose: str, fn):
        """Call ``fn`` (one model call) and record it, also when it fails (a 401 or a timeout costs too)."""
        try:
            out = fn()
        except Exception as exc:
            self.record(role, model, purpose, error=type(exc).__name__)
            raise
        self.record(role, model, purpose, out[1] if isinstance(out, tuple) else None)
        return out

    def record(
        self, role: str, model, purpose: str, usage: dict | None = None, error: str | None = None
    ) -> None:
        self.count += 1
        entry = {"role": role, "model": model_id(model), "purpose": purpose}
        if error:
            entry["error"] = error
        if usage:
            entry["input_tokens"] = usage.get("input_tokens")
            entry["output_tokens"] = usage.get("output_tokens")
        self.log.append(entry)

    def update(self) -> dict:
        return {"model_calls": self.count, "calls": self.log}


def _model_error(exc: Exception) -> str:
    name = type(exc).__name__
    return f"the model endpoint failed ({name}: {str(exc)[:200]})"


# ------------------------------------------------------------------------------------------------ route
def route(state: State, runtime: Runtime[Context]) -> dict:
    """Decide the intent: rules first, then the instruct model, then keywords (offline)."""
    ctx = runtime.context
    _emit(runtime, "routing", "Reading your message…")
    text = state.get("request", "")
    attached = {n: state.get("files", {}).get(n, "") for n in state.get("attached", [])}
    fresh = {
        "passages": [],
        "examples": [],
        "attempts": [],
        "feedback": "",
        "guard_hits": 0,
        "model_calls": 0,
        "calls": [],
        "outcome": "",
        "answer": "",
        "citations": [],
        "flagged": [],
        "origin": "",
        "changes": [],
        "script_file": "",
        "force_intent": "",
    }
    forced = state.get("force_intent")
    decided = (forced, "set by the caller") if forced in ("qa", "generate", "help") else None
    if decided is None:
        decided = rule_intent(text, attached, ctx.command_names())
    calls = _Calls({**state, **fresh}, ctx)
    if decided is None and ctx.instruct is not None:
        has = "There is an earlier script in this conversation." if state.get("script") else ""
        messages = [
            SystemMessage(prompts.ROUTER_SYSTEM.format(has_script=has)),
            *_history(state, ctx),
            HumanMessage(text),
        ]
        try:
            choice = calls.run(
                "instruct",
                ctx.instruct,
                "route",
                lambda: ask_structured(ctx.instruct, RouteDecision, messages),
            )
            if choice and choice.intent in ("qa", "generate", "help"):
                decided = (choice.intent, choice.reason or "the model's reading")
        except Exception as exc:  # noqa: BLE001 - an unreachable model must not end the turn
            log.warning("routing model failed: %s", exc)
    if decided is None:
        decided = guess_intent(text, bool(state.get("script")))
    intent, reason = decided
    _emit(runtime, "routed", f"Intent: {intent}", intent=intent)
    return {**fresh, **calls.update(), "intent": intent, "route_reason": reason}


def after_route(state: State) -> Literal["retrieve", "gather", "prepare_run", "explain", "help"]:
    return {
        "qa": "retrieve",
        "generate": "gather",
        "run": "prepare_run",
        "explain": "explain",
        "help": "help",
    }[state["intent"]]


# ------------------------------------------------------------------------------------------------ Q&A
def _search(ctx: Context, query: str, k: int, kinds=None) -> tuple[list[dict], str | None]:
    if ctx.searcher is None:
        return [], "no knowledge base is configured"
    from mdbot.retrieval.search import EmptyKnowledgeBase

    try:
        return [h.to_dict() for h in ctx.searcher.search(query, k, kinds=kinds)], None
    except EmptyKnowledgeBase as exc:
        return [], str(exc)
    except ValueError as exc:
        return [], str(exc)


def retrieve(state: State, runtime: Runtime[Context]) -> dict:
    ctx = runtime.context
    _emit(runtime, "retrieving", "Searching the manual and the lab's documents…")
    passages, problem = _search(ctx, state.get("request", ""), ctx.settings.qa_passages)
    update: dict = {"passages": passages}
    if problem:
        update["feedback"] = problem
    return update


def numbered_passages(passages: list[dict], chars: int = PASSAGE_CHARS) -> str:
    """Passages as the models see them, numbered for citation ([1], [2]…); also used by ``mdbot eval qa``."""
    return (
        "\n\n".join(
            f"[{i}] {p['title']} — {p.get('section', '')} ({p.get('source', '')})\n{p['text'][:chars]}"
            for i, p in enumerate(passages, 1)
        )
        or "(no passages found)"
    )


def _offline_answer(passages: list[dict], why: str, kb_problem: str = "") -> str:
    if not passages:
        tail = (
            f" Nor can I show passages: {kb_problem}." if kb_problem else " The knowledge base found nothing."
        )
        return f"I can't answer this: {why}.{tail}"
    lines = [f"_{why[0].upper() + why[1:]}, so here are the most relevant passages:_"]
    for i, p in enumerate(passages[:5], 1):
        excerpt = " ".join(p["text"].split())[:300]
        lines.append(f"[{i}] *{p['title']}* ({p.get('section', '')}): {excerpt}…")
    return "\n\n".join(lines)


def answer(state: State, runtime: Runtime[Context]) -> dict:
    """Answer from the passages with numbered citations, then strip invented commands."""
    ctx = runtime.context
    passages = state.get("passages", [])
    calls = _Calls(state, ctx)
    if ctx.instruct is None or calls.left <= 0:
        why = "no language model is configured (set MDBOT_LLM_INSTRUCT_BASE_URL)"
        if ctx.instruct is not None:
            why = "the model-call budget of this request is spent"
        offline = _offline_answer(passages, why, state.get("feedback", ""))
        text, cites = citations(offline, passages[:5])
        return {"answer": text, "citations": cites, "outcome": "offline"}
    _emit(runtime, "writing", "Writing the answer…")
    messages = [
        SystemMessage(prompts.ANSWER_SYSTEM.format(passages=numbered_passages(passages))),
        *_history(state, ctx),
        HumanMessage(state.get("request", "")),
    ]
    try:
        text, _usage = calls.run(
            "instruct", ctx.instruct, "answer", lambda: stream_text(ctx.instruct, messages)
        )
    except Exception as exc:  # noqa: BLE001
        offline = _offline_answer(passages, _model_error(exc), state.get("feedback", ""))
        text, cites = citations(offline, passages[:5])
        return {"answer": text, "citations": cites, "outcome": "offline", **calls.update()}
    verdict = check_answer(text, ctx.command_checker())
    text, cites = citations(verdict.text, passages)
    return {
        "answer": text,
        "citations": cites,
        "flagged": verdict.removed,
        "outcome": "answered",
        **calls.update(),
    }


# ------------------------------------------------------------------------------------- explain / help
def explain(state: State, runtime: Runtime[Context]) -> dict:
    """A pasted error or log: the sandbox's diagnosis (no model needed), the manual, and the model's words."""
    from mdbot.sandbox.diagnose import diagnose
    from mdbot.sandbox.logparse import parse_text
    from mdbot.sandbox.script import commands

    ctx = runtime.context
    text = state.get("request", "")
    _emit(runtime, "diagnosing", "Reading the error…")
    parsed = parse_text(text)
    err = parsed.error
    if err is None:
        return {"answer": "I found no LAMMPS `ERROR:` line to explain.", "outcome": "answered"}
    caps = ctx.capabilities()
    d = diagnose(err, [("in.lammps", commands(text))], caps, ctx.potentials(), [])
    query = f"ERROR: {err.message}"
    passages, _ = _search(ctx, query, 4)
    if d.command:
        more, _ = _search(ctx, d.command, 2, kinds={"manual"})
        seen = {p["doc_id"] for p in passages}
        passages += [p for p in more if p["doc_id"] not in seen]
    lines = [f"*Error:* {d.message}"]
    if d.command:
        lines.append(f"*Command:* `{d.command}`" + (f" (line {d.line})" if d.line else ""))
    if d.hint:
        lines.append(f"*Likely fix:* {d.hint}")
    diagnosis = "\n".join(lines)
    calls = _Calls(state, ctx)
    if ctx.instruct is not None and calls.left > 0:
        _emit(runtime, "writing", "Explaining…")
        messages = [
            SystemMessage(
                prompts.EXPLAIN_SYSTEM.format(diagnosis=diagnosis, passages=numbered_passages(passages, 1000))
            ),
            HumanMessage(text[-6000:]),
        ]
        try:
            body, _usage = calls.run(
                "instruct", ctx.instruct, "explain", lambda: stream_text(ctx.instruct, messages)
            )
            body = check_answer(body, ctx.command_checker()).text
            text_out, cites = citations(diagnosis + "\n\n" + body, passages)
            return {"answer": text_out, "citations": cites, "outcome": "answered", **calls.update()}
        except Exception as exc:  # noqa: BLE001
            diagnosis += f"\n_({_model_error(exc)}; the diagnosis above needs no model.)_"
    if passages:
        diagnosis += "\n*In the manual:* " + "; ".join(
            f"[{i}] {p['title']}" for i, p in enumerate(passages[:3], 1)
        )
    text_out, cites = citations(diagnosis, passages[:3])
    return {"answer": text_out, "citations": cites, "outcome": "answered", **calls.update()}


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
    _emit(runtime, "retrieving", "Looking up example scripts and manual pages…")
    query = state.get("request", "")
    examples, _ = _search(ctx, query, ctx.settings.example_scripts, kinds={"examples"})
    docs, problem = _search(ctx, query, 4, kinds={"manual", "docs", "potentials"})
    for ex in examples:
        try:
            src = Path(ex["source"])
            if src.is_file() and src.stat().st_size < 200_000:
                ex["script"] = src.read_text(errors="replace")[:EXAMPLE_CHARS]
        except OSError:
            pass
    return {"examples": examples, "passages": docs, "feedback": problem or ""}


def _references(state: State) -> str:
    parts = []
    for ex in state.get("examples", []):
        parts.append(f"Example script {ex['title']} ({ex['source']}):\n{ex.get('script') or ex['text']}")
    for p in state.get("passages", []):
        parts.append(f"Manual: {p['title']} — {p.get('section', '')}:\n{p['text'][:1200]}")
    return "\n\n".join(parts) or "(none found)"


def _file_names(state: State) -> str:
    names = [n for n in state.get("files", {}) if n != state.get("script_file")]
    return ", ".join(names) or "none"


def write(state: State, runtime: Runtime[Context]) -> dict:
    """The code model writes the script (or, offline, the closest examples are offered)."""
    ctx = runtime.context
    calls = _Calls(state, ctx)
    if ctx.code is None:
        examples = state.get("examples", [])
        if not examples:
            body = "No language model is configured and no example script matched, so I can't write this yet."
        else:
            body = (
                "No language model is configured (set MDBOT_LLM_CODE_BASE_URL), so I can't write the script. "
            )
            body += "The closest example scripts:\n"
            for ex in examples:
                body += f"\n*{ex['title']}* (`{ex['source']}`)\n```lammps\n{(ex.get('script') or ex['text'])[:1500]}\n```\n"
            body += "\nAttach one (edited) as `in.something` and I will run it."
        return {"outcome": "offline", "answer": body}
    _emit(runtime, "writing", "Writing the input script…")
    caps = ctx.capabilities()
    previous = prompts.PREVIOUS_SCRIPT.format(script=state["script"].strip()) if state.get("script") else ""
    messages = [
        SystemMessage(
            prompts.CODE_SYSTEM.format(
                version=caps.version if caps else "unknown",
                files=_file_names(state),
                references=_references(state),
            )
        ),
        *_history(state, ctx),
        HumanMessage(prompts.CODE_REQUEST.format(task=state.get("request", ""), previous=previous)),
    ]
    script = None
    for _ in range(2):  # a reply without a script gets one reminder
        if calls.left <= 0:
            break
        try:
            reply, _usage = calls.run(
                "code", ctx.code, "generate", lambda m=messages: stream_text(ctx.code, m)
            )
        except Exception as exc:  # noqa: BLE001
            return {
                "outcome": "error",
                "answer": f"I could not write the script: {_model_error(exc)}.",
                **calls.update(),
            }
        script = extract_script(reply)
        if script:
            break
        messages += [
            AIMessage(reply),
            HumanMessage("Reply with the complete LAMMPS input script in one ```lammps block."),
        ]
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
        result = check(state["script"], _staged(state), settings=ctx.sandbox).model_dump()
    except JobInputError as exc:
        result = {"status": "rejected", "error": {"message": str(exc)}, "warnings": []}
    attempt = {
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
        result = run(
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
    n = last["n"]
    _emit(runtime, "critiquing", f"Attempt {n}: reviewing the result…", attempt=n)
    grades = crit.rubric(last["script"], last["check"], last["run"])
    calls = _Calls(state, ctx)
    judge = None
    ran = bool(last["run"] and last["run"].get("status") == "ok")
    if (
        ran
        and ctx.judge is not None
        and ctx.settings.judge
        and state.get("intent") == "generate"
        and calls.left > 0
    ):
        run_summary = crit.run_summary(last["run"])
        messages = [
            SystemMessage(prompts.JUDGE_SYSTEM),
            HumanMessage(
                prompts.JUDGE_REQUEST.format(
                    task=state.get("request", ""), script=last["script"], run=run_summary
                )
            ),
        ]
        try:
            verdict = calls.run(
                "judge", ctx.judge, "critique", lambda: ask_structured(ctx.judge, JudgeVerdict, messages)
            )
            judge = verdict.model_dump() if verdict else None
        except Exception as exc:  # noqa: BLE001 - a judge outage leaves the sandbox's verdict
            log.warning("judge failed: %s", exc)
    problems = crit.problems(last["check"], last["run"], judge)
    health_ok = ran and last["run"].get("health", {}).get("ok", True)
    fidelity_ok = judge is None or (
        not judge.get("does_other_task") and judge.get("task_completion", 10) >= 5
    )
    result = {
        **grades,
        "judge": judge,
        "score": crit.score(grades, judge),
        "problems": problems,
        "ran": ran,
        "health_ok": bool(health_ok),
        "success": bool(ran and health_ok and fidelity_ok),
    }
    attempts[-1] = {**last, "critique": result}
    return {"attempts": attempts, "feedback": "\n\n".join(problems), **calls.update()}


def after_critique(state: State, runtime: Runtime[Context]) -> Literal["respond", "repair"]:
    last = state["attempts"][-1]
    if last["critique"]["success"]:
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
    failed = (
        last["check"] if last["check"]["status"] != "ok" else last["run"]
    )  # the run when the check passed
    error = (failed or {}).get("error")
    n = last["n"]
    caps = ctx.capabilities()
    fixed = deterministic(last["script"], error, ctx.potentials(), caps.styles if caps else None)
    if fixed and repeats(fixed[0], attempts) is None:
        script, kind, change = fixed
        _emit(runtime, "repairing", f"Attempt {n}: {change}", attempt=n, how=kind)
        return {"script": script, "origin": f"repair:{kind}", "changes": [change]}
    calls = _Calls(state, ctx)
    if ctx.code is None:
        return {
            "outcome": "failed",
            "feedback": state.get("feedback", "") + "\n\n(No code model is configured to repair it.)",
        }
    _emit(runtime, "repairing", f"Attempt {n}: asking the code model for a fix…", attempt=n, how="model")
    manual = ""
    if error and error.get("command"):
        pages, _ = _search(ctx, error["command"], 1, kinds={"manual"})
        if pages:
            manual = f"Manual ({pages[0]['title']} — {pages[0].get('section', '')}):\n{pages[0]['text'][:1500]}\n\n"
    task = state.get("request", "")
    if last["origin"] == "user" or state.get("intent") == "run":
        task = f"make the user's script run correctly. The user wrote: {task}"
    messages: list[BaseMessage] = [
        SystemMessage(
            prompts.CODE_SYSTEM.format(
                version=caps.version if caps else "unknown",
                files=_file_names(state),
                references=_references(state),
            )
        ),
        HumanMessage(
            prompts.REPAIR_REQUEST.format(
                task=task,
                n=n,
                script=last["script"].strip(),
                problem=state.get("feedback") or "unknown",
                manual=manual,
            )
        ),
    ]
    guard_hits = state.get("guard_hits", 0)
    while calls.left > 0:
        try:
            reply, _usage = calls.run("code", ctx.code, "repair", lambda m=messages: stream_text(ctx.code, m))
        except Exception as exc:  # noqa: BLE001
            return {
                "outcome": "error",
                "feedback": _model_error(exc),
                "guard_hits": guard_hits,
                **calls.update(),
            }
        script = extract_script(reply)
        if script is None:
            messages += [
                AIMessage(reply),
                HumanMessage("Reply with the complete corrected script in one ```lammps block."),
            ]
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
        _emit(runtime, "guard", f"The proposed fix repeats attempt {same_as}; changing strategy…", attempt=n)
        if guard_hits == 1 or not state.get("examples"):
            follow = prompts.GUARD_DIFFERENT
        else:
            ex = state["examples"][0]
            follow = prompts.GUARD_FROM_EXAMPLE.format(example=ex.get("script") or ex["text"])
        if guard_hits > 2:
            break
        messages += [AIMessage(reply), HumanMessage(follow)]
    return {"outcome": "stuck" if guard_hits else "budget", "guard_hits": guard_hits, **calls.update()}


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
        update = {"answer": text, "outcome": outcome, "script": best["script"]}
    text = update.get("answer", state.get("answer", "")) or "I have nothing to say to that."
    return {**update, "messages": [AIMessage(text)]}
