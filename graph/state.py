"""What the graph remembers: the conversation (checkpointed per thread) and the current turn's work.

Everything here is plain JSON-like data (strings, numbers, lists, dicts), so checkpoints survive upgrades of
our own classes and read the same from SQLite and PostgreSQL. Fields that describe one turn are reset by the
``route`` node; ``messages``, ``files`` and ``script`` carry over, which is what lets "now make it 500 K"
work on the script of the previous turn.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

Intent = Literal["qa", "generate", "run", "explain", "help"]
INTENTS: tuple[Intent, ...] = ("qa", "generate", "run", "explain", "help")


def merge_files(old: dict[str, str] | None, new: dict[str, str] | None) -> dict[str, str]:
    """Files attached anywhere in the thread stay available; a newer file of the same name wins."""
    return {**(old or {}), **(new or {})}


class Attempt(TypedDict, total=False):
    """One script tried in the sandbox."""

    n: int
    origin: str  # "user", "model", "repair:model", "repair:potential", "repair:mass", "repair:style", …
    script: str
    check: dict  # RunResult of sandbox.check (as a dict)
    run: dict | None  # RunResult of sandbox.run, None when the check failed
    critique: dict | None
    changes: list[str]  # what a deterministic repair changed, for the user


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
    examples: list[dict]  # example scripts retrieved for writing a script
    attempts: list[Attempt]
    feedback: str  # what the next repair must fix
    guard_hits: int  # how often the loop guard stopped a repeated script this turn
    model_calls: int
    calls: list[dict]  # each model call: role, model, purpose, tokens
    outcome: str  # "success", "failed", "rejected", "budget", "offline", "answered", "error",
    # "not_run" (the user may not start sandbox jobs)
    answer: str  # the reply in Markdown
    citations: list[dict]
    flagged: list[str]  # commands or styles removed from an answer as unknown
