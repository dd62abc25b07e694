"""What the graph remembers: the conversation (checkpointed per thread) and the current turn's work.

Everything here is plain JSON-like data (strings, numbers, lists, dicts), so checkpoints survive upgrades of
our own classes and read the same from SQLite and PostgreSQL: the nested records are ``TypedDict``s, not
classes. Fields that describe one turn are reset by the ``route`` node (see :func:`new_turn`); ``messages``,
``files`` and ``script`` carry over, which is what lets "now make it 500 K" work on the script of the
previous turn. The few reads of a record that may lack a part (a run that never happened, a result of a
job refused before it started) go through the accessors at the end, not through ad hoc chains.
"""

from __future__ import annotations

from typing import Annotated, Literal, Required, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

Intent = Literal["qa", "generate", "run", "explain", "help", "structure"]
INTENTS: tuple[Intent, ...] = ("qa", "generate", "run", "explain", "help", "structure")

Outcome = Literal[
    "success",  # a script ran cleanly and the critique agreed
    "failed",  # no attempt ran cleanly (or no script came out of the code model)
    "rejected",  # the user's script or file was refused (unreadable, or against the sandbox policy)
    "stuck",  # the repairs kept repeating scripts that had already failed (the loop guard gave up)
    "budget",  # the model-call budget ran out during a repair (the reply says "failed")
    "error",  # a model endpoint failed, or our own bug (the service's)
    "offline",  # no model configured, or the model failed: passages or example scripts instead
    "answered",  # a question, an explanation or the help was answered
    "not_run",  # the user may not start sandbox jobs: the script is shown, not run
]
OUTCOMES: tuple[Outcome, ...] = (
    "success", "failed", "rejected", "stuck", "budget", "error", "offline", "answered", "not_run",
)  # fmt: skip


def merge_files(old: dict[str, str] | None, new: dict[str, str] | None) -> dict[str, str]:
    """Files attached anywhere in the thread stay available; a newer file of the same name wins."""
    return {**(old or {}), **(new or {})}


# ------------------------------------------------------------------------------------ sandbox results
class ErrorInfo(TypedDict, total=False):
    """sandbox.result.ErrorInfo as a dict (a job refused before it started has only the message)."""

    message: str
    command: str | None
    line: int | None
    file: str | None
    hint: str | None


class Health(TypedDict, total=False):
    ok: bool
    issues: list[str]


class SandboxResult(TypedDict, total=False):
    """sandbox.result.RunResult as a dict, as ``check`` and ``run`` return it. A job the sandbox refused
    before starting it (``JobInputError``) has only status, error and warnings (and an empty health)."""

    status: Required[Literal["ok", "error", "timeout", "killed", "rejected"]]
    returncode: int | None
    wall_s: float
    error: ErrorInfo | None
    warnings: list[str]
    notes: list[str]  # what mdbot did on the script's behalf
    thermo: list[dict]  # {"columns": [...], "rows": [[...]], "rows_total": n}
    health: Health
    final_step: int | None
    performance: dict  # {"timesteps_per_s": float | None}
    files: list[dict]  # {"name": str, "bytes": int}
    workdir: str | None
    console_tail: str | None


# ------------------------------------------------------------------------------------ critique
class Verdict(TypedDict):
    """The judge model's grade of a script that ran (critique.JudgeVerdict as a dict)."""

    task_completion: float
    does_other_task: bool
    physics: float
    comments: str


class Grades(TypedDict):
    """The rubric (critique.rubric): points and penalties decided from the script and its results."""

    points: dict[str, float]
    penalties: dict[str, float]
    assumed: list[str]  # items credited because the script ran, not checked
    facts: dict  # units, timestep, steps


class Critique(Grades):
    judge: Verdict | None
    score: float
    problems: list[str]  # what the next repair must fix
    ran: bool
    health_ok: bool
    success: bool


# ------------------------------------------------------------------------------------ attempts
class Attempt(TypedDict):
    """One script tried in the sandbox; ``validate`` creates it with every key."""

    n: int
    origin: str  # "user", "model", "repair:model", "repair:potential", "repair:mass", "repair:style", …
    script: str
    check: SandboxResult
    run: SandboxResult | None  # None when the check failed (or the run has not happened yet)
    critique: Critique | None  # None until the critique node has seen the attempt
    changes: list[str]  # what a deterministic repair changed, for the user


class AttemptSummary(TypedDict):
    """An attempt as a turn reports it (``Turn.attempts``, ``mdbot ask --json``): statuses, not results."""

    n: int
    origin: str
    check: str | None  # the check's status
    run: str | None  # the run's status, None when it did not run
    error: ErrorInfo | None  # the run's error when it failed, else the check's
    health: Health | None
    score: float | None
    success: bool
    changes: list[str]


class ModelCall(TypedDict, total=False):
    """One model call of the turn, for the journal (calls.Calls records it)."""

    role: Required[str]  # instruct, code or judge
    model: Required[str | None]  # model@base_url
    purpose: Required[str]  # route, answer, explain, generate, repair, critique
    error: str  # the exception's name, when the call failed
    input_tokens: int | None
    output_tokens: int | None


class State(TypedDict, total=False):
    # --- carried over between turns of a thread
    messages: Annotated[list[AnyMessage], add_messages]
    files: Annotated[dict[str, str], merge_files]  # name -> path of files attached in the thread
    script: str | None  # the latest script of the thread (the user's or ours)
    # --- this turn
    request: str
    force_intent: str  # set by the caller to skip routing ("" = route as usual); cleared by ``route``
    may_run: bool  # False: the user may not start sandbox jobs here (bot access control); scripts are shown
    attached: list[str]  # names of the files attached to this message (a subset of ``files``)
    script_file: str  # the attached file the script came from, not staged again as an input
    origin: str  # where the pending script comes from (see Attempt.origin)
    changes: list[str]  # what the pending script's deterministic repair changed
    intent: Intent
    route_reason: str
    passages: list[dict]  # retrieved passages (retrieval.search.Hit as dicts), cited by number
    examples: list[dict]  # example scripts retrieved for writing a script (Hit dicts, plus "script")
    attempts: list[Attempt]
    feedback: str  # what the next repair must fix
    guard_hits: int  # how often the loop guard stopped a repeated script this turn
    model_calls: int
    calls: list[ModelCall]
    outcome: Outcome | Literal[""]  # "" until the turn has one
    answer: str  # the reply in Markdown
    citations: list[dict]
    flagged: list[str]  # commands or styles removed from an answer as unknown
    pictures: list[str]  # pictures made this turn outside a sandbox run (a structure's drawing)
    preface: str  # what goes before a script turn's report (a structure's summary)
    build_notes: list[str]  # how a structure's setup was built (kind, size, force field, warnings)


def new_turn() -> State:
    """The per-turn fields as ``route`` resets them at the start of every turn."""
    return {
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
        "pictures": [],
        "preface": "",
        "build_notes": [],
        "origin": "",
        "changes": [],
        "script_file": "",
        "force_intent": "",
    }


# ------------------------------------------------------------------------------------ accessors
def result_of(attempt: Attempt) -> SandboxResult:
    """The run's result when the attempt ran, else the check's."""
    return attempt["run"] or attempt["check"]


def error_of(result: SandboxResult | None) -> ErrorInfo:
    """The result's error ({} when it has none, or there is no result)."""
    return (result or {}).get("error") or {}


def health_of(result: SandboxResult | None) -> Health:
    """The result's health ({} when a refused job has none, or there is no result)."""
    return (result or {}).get("health") or {}


def succeeded(attempt: Attempt) -> bool:
    """The critique found the attempt a success (False before it was critiqued)."""
    return bool(attempt["critique"] and attempt["critique"]["success"])


def score_of(attempt: Attempt) -> float:
    """The critique's score (0 before it was critiqued)."""
    return attempt["critique"]["score"] if attempt["critique"] else 0.0
