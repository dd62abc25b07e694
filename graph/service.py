"""The brain as a service: one object that the command line and the Slack bot call per message.

It owns the compiled graph, the checkpointer, the journal, the models and the searcher, streams the graph's
progress events to a callback, and turns every outcome (including our own bugs) into a reply. It is safe to
call from several worker threads at once.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .configuration import Context
from .settings import GraphSettings
from .state import Attempt, AttemptSummary, ModelCall, Outcome, SandboxResult, error_of, result_of

log = logging.getLogger(__name__)
Progress = Callable[[dict], None]
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
PICTURE = re.compile(r"\.(png|jpe?g)$", re.I)


class InputFileError(ValueError):
    """An attached file cannot be used (missing, not a regular file, unsafe name)."""


@dataclass
class Turn:
    """What one message produced (the ``mdbot ask --json`` document)."""

    turn_id: str | None
    thread_id: str
    intent: str | None
    outcome: Outcome | None
    answer: str
    citations: list[dict] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)
    script: str | None = None
    result: SandboxResult | None = None  # the best attempt's run, else its check
    attempts: list[AttemptSummary] = field(default_factory=list)
    pictures: list[str] = field(default_factory=list)
    model_calls: int = 0
    calls: list[ModelCall] = field(default_factory=list)  # each model call: role, model, purpose, tokens
    latency_s: float = 0.0
    route_reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class LockedSearcher:
    """The searcher loads indexes lazily and is not meant for concurrent first use."""

    def __init__(self, searcher):
        self._searcher, self._lock = searcher, threading.Lock()

    def search(self, *args, **kwargs):
        with self._lock:
            return self._searcher.search(*args, **kwargs)

    def known_names(self):
        with self._lock:
            return self._searcher.known_names()


def stage_files(files: Mapping[str, str | Path] | Iterable[str | Path]) -> dict[str, str]:
    """Attached files as {name: absolute path}, each checked to be a readable regular file."""
    if isinstance(files, (str, Path)):
        files = [files]  # one path, not an iterable of characters
    items = files.items() if isinstance(files, Mapping) else ((Path(f).name, f) for f in files)
    out: dict[str, str] = {}
    for name, path in items:
        p = Path(path)
        if not SAFE_NAME.match(name):
            raise InputFileError(f"unsafe file name {name!r}: use letters, digits, '.', '_', '+', '-'")
        if not p.exists():
            raise InputFileError(f"file not found: {p}")
        if not p.is_file():
            raise InputFileError(f"not a regular file: {p}")
        out[name] = str(p.resolve())
    return out


class Brain:
    """Build once per process; call :meth:`ask` per message."""

    def __init__(
        self,
        settings: GraphSettings | None = None,
        *,
        sandbox=None,
        retrieval=None,
        models: dict[str, Any] | None = None,
        searcher=None,
        journal: bool = True,
    ):
        from .checkpoint import open_checkpointer
        from .graph import build

        self.settings = settings or GraphSettings()
        if sandbox is None:
            from mdbot.sandbox.settings import SandboxSettings

            sandbox = SandboxSettings()
        if models is None:
            from .models import chat_model

            models = {role: chat_model(role) for role in ("instruct", "code", "judge")}
        if searcher is None:
            from mdbot.retrieval.search import Searcher
            from mdbot.retrieval.settings import RetrievalSettings

            searcher = Searcher(retrieval or RetrievalSettings())
        self.context = Context(
            settings=self.settings,
            sandbox=sandbox,
            instruct=models.get("instruct"),
            code=models.get("code"),
            judge=models.get("judge"),
            searcher=LockedSearcher(searcher) if searcher is not False else None,
        )
        self.checkpointer, self._close_checkpointer = open_checkpointer(self.settings)
        self.graph = build(self.checkpointer)
        self.journal = None
        if journal:
            from .journal import Journal

            self.journal = Journal(self.settings.journal_url)

    def warm_up(self) -> None:
        """Load what the first request would otherwise wait for (embedding model, indexes, ``lmp -h``)."""
        searcher = self.context.searcher
        if searcher is not None:
            try:
                searcher.search("warm up", 1)
            except Exception as exc:  # noqa: BLE001 - an empty knowledge base is reported per question
                log.warning("knowledge base not ready: %s", exc)
        self.context.capabilities()

    def model_ids(self) -> dict[str, str | None]:
        from .models import model_id

        return {r: model_id(getattr(self.context, r)) for r in ("instruct", "code", "judge")}

    def ask(
        self,
        text: str,
        files: Mapping[str, str | Path] | Iterable[str | Path] = (),
        *,
        thread_id: str | None = None,
        user_id: str | None = None,
        channel: str | None = None,
        source: str = "cli",
        on_progress: Progress | None = None,
        may_run: bool = True,
        intent: str | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Turn:
        """Run one message through the graph; never raises for what the message or the models do.

        ``may_run=False`` (the bot's access control) answers questions but starts no sandbox job: a requested
        script is written and shown, not run. ``intent`` skips routing (``mdbot eval code`` sends every task
        down the generate path, whatever its wording). ``on_token`` gets the answer's text as the model
        streams it (the Q&A and explain answers; LangGraph's ``messages`` stream), for a live reply."""
        from langchain_core.messages import HumanMessage

        thread_id = thread_id or f"{source}:{uuid.uuid4()}"
        staged = stage_files(files)  # InputFileError is the caller's bad input
        started, t0 = datetime.now(UTC), time.perf_counter()
        inputs = {
            "messages": [HumanMessage(text)],
            "request": text,
            "may_run": may_run,
            "files": staged,
            "attached": list(staged),
            "force_intent": intent or "",
        }
        config = {"configurable": {"thread_id": thread_id}, "recursion_limit": 60}
        final: dict = {}
        error = None
        try:
            modes = ["custom", "values", *(["messages"] if on_token else [])]
            for mode, chunk in self.graph.stream(inputs, config, context=self.context, stream_mode=modes):
                if mode == "messages":
                    _forward_token(chunk, on_token)
                elif mode == "custom" and on_progress:
                    try:
                        on_progress(chunk)
                    except Exception:  # noqa: BLE001 - a broken progress display must not stop the work
                        log.exception("progress callback failed")
                elif mode == "values":
                    final = chunk
        except Exception as exc:  # noqa: BLE001 - our bug or an outage: the user still gets an answer
            log.exception("graph failed on thread %s", thread_id)
            error = f"{type(exc).__name__}: {exc}"
        latency = time.perf_counter() - t0
        if error:
            final = {
                **final,
                "answer": f"Something went wrong on my side ({error[:300]}). It has been logged.",
            }
        turn_id = None
        if self.journal is not None:
            try:
                turn_id = self.journal.record_turn(
                    thread_id=thread_id,
                    text=text,
                    state=final,
                    started_at=started,
                    latency_s=latency,
                    models=self.model_ids(),
                    user_id=user_id,
                    channel=channel,
                    source=source,
                    error=error,
                )
            except Exception:  # noqa: BLE001 - the reply matters more than its record
                log.exception("journal write failed")
        return self._turn(final, thread_id, turn_id, latency, error)

    def _turn(
        self, state: dict, thread_id: str, turn_id: str | None, latency: float, error: str | None
    ) -> Turn:
        from .report import best_attempt

        attempts: list[Attempt] = state.get("attempts") or []
        result, pictures, script = None, [], None
        if attempts:
            best = best_attempt(attempts)
            result, script = result_of(best), best["script"]
            workdir = result.get("workdir")
            if workdir:
                pictures = [
                    str(Path(workdir) / f["name"])
                    for f in result.get("files", [])
                    if PICTURE.search(f["name"])
                ]
        return Turn(
            turn_id=turn_id,
            thread_id=thread_id,
            intent=state.get("intent"),
            outcome="error" if error else state.get("outcome"),
            answer=state.get("answer", ""),
            citations=state.get("citations", []) or [],
            flagged=state.get("flagged", []) or [],
            script=script,
            result=result,
            attempts=[_attempt_summary(a) for a in attempts],
            pictures=[*(state.get("pictures") or []), *pictures],
            model_calls=state.get("model_calls", 0) or 0,
            calls=state.get("calls", []) or [],
            latency_s=round(latency, 3),
            route_reason=state.get("route_reason"),
        )

    def feedback(
        self, turn_id: str, rating: int, user_id: str | None = None, comment: str | None = None
    ) -> None:
        if self.journal is None:
            raise RuntimeError("the journal is disabled")
        self.journal.add_feedback(turn_id, rating, user_id, comment)

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()
        self._close_checkpointer()


STREAMED_NODES = frozenset({"answer", "explain"})  # nodes whose model text is the reply's text


def _forward_token(chunk, on_token: Callable[[str], None]) -> None:
    """A ``messages`` stream item (message chunk, metadata) to ``on_token``, when it is answer text."""
    message, meta = chunk
    text = getattr(message, "content", None)
    if meta.get("langgraph_node") in STREAMED_NODES and isinstance(text, str) and text:
        try:
            on_token(text)
        except Exception:  # noqa: BLE001 - a broken live display must not stop the work
            log.exception("token callback failed")


def _attempt_summary(a: Attempt) -> AttemptSummary:
    check, run, crit = a["check"], a["run"], a["critique"]
    failed_run = run is not None and run["status"] != "ok"
    return {
        "n": a["n"],
        "origin": a["origin"],
        "check": check["status"],
        "run": run["status"] if run else None,
        "error": (error_of(run) if failed_run else None) or check.get("error"),
        "health": run.get("health") if run else None,
        "score": crit["score"] if crit else None,
        "success": bool(crit and crit["success"]),
        "changes": a["changes"],
    }
