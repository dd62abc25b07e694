"""A request's lifecycle: one message the bot works on, and the phase its status message is in.

A request moves forward only, each step at most once, along :data:`ALLOWED`::

    NEW ──▶ QUEUED ──▶ STARTED ──▶ ANSWERED
              │           │
              └───────────┴──────▶ CLOSED

NEW: taken from Slack, nothing in the thread yet. QUEUED: the status message is posted and the job waits
for a worker (its queue position may be edited in). STARTED: a worker has it (progress is edited in).
ANSWERED: the answer replaced the status message. CLOSED: a final notice replaced it instead (refusal,
failure, restart). ANSWERED and CLOSED are final: the status message is not edited again, and anything said
later is a new message.

:meth:`Request.transition` is the only way to change the phase, :meth:`Request.during` the way to act within
one (a queue position, a progress line). Both hold the request's lock for their ``with`` block, so what the
block does — edit the status message — cannot interleave with another block's edit: a progress line never
lands on top of the answer, a queue position never on top of progress, and a request is started, answered
or closed once.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


class Phase(enum.Enum):
    NEW = "new"
    QUEUED = "queued"
    STARTED = "started"
    ANSWERED = "answered"
    CLOSED = "closed"

    @property
    def final(self) -> bool:
        """The status message holds its last text."""
        return self in (Phase.ANSWERED, Phase.CLOSED)


ALLOWED: dict[Phase, frozenset[Phase]] = {
    Phase.NEW: frozenset({Phase.QUEUED}),
    Phase.QUEUED: frozenset({Phase.STARTED, Phase.CLOSED}),
    Phase.STARTED: frozenset({Phase.ANSWERED, Phase.CLOSED}),
    Phase.ANSWERED: frozenset(),
    Phase.CLOSED: frozenset(),
}


@dataclass(eq=False)
class Request:
    """One message the bot works on, and its status message in the thread."""

    user: str
    channel: str
    thread_ts: str
    message_ts: str
    text: str
    files: list[dict] = field(default_factory=list)  # Slack file objects, resolved and checked
    status_ts: str | None = None  # set by the move to QUEUED
    lines: list[str] = field(default_factory=list)  # the status message's steps, the current one last
    last_edit: float = 0.0  # time.monotonic() of the last progress edit
    id: str = field(default_factory=lambda: uuid.uuid4().hex)  # in logs and the journal's slack_requests
    agent: bool = (
        False  # the thread's status line shows progress (Slack's agent experience), no status message
    )
    team: str | None = None  # the member's workspace (streaming to a channel names its recipient)
    taken: float = field(default_factory=time.monotonic)  # when this process took it (durations in the log)
    _phase: Phase = field(default=Phase.NEW, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def thread_id(self) -> str:
        return f"{self.channel}:{self.thread_ts}"

    @property
    def key(self) -> str:
        """The message this request answers: one request per message, whichever event brought it."""
        return f"{self.channel}:{self.message_ts}"

    @property
    def phase(self) -> Phase:
        return self._phase

    @contextmanager
    def transition(self, to: Phase) -> Iterator[bool]:
        """``with request.transition(Phase.X) as allowed:`` — under the request's lock for the whole block,
        the phase moves to ``to`` if :data:`ALLOWED` from the current one (``allowed`` is True: do what the
        move means) or stays (False: do nothing, someone else got there first)."""
        with self._lock:
            allowed = to in ALLOWED[self._phase]
            if allowed:
                self._phase = to
            else:
                log.debug("request in %s: %s → %s refused", self.thread_id, self._phase.name, to.name)
            yield allowed

    @contextmanager
    def during(self, phase: Phase) -> Iterator[bool]:
        """``with request.during(Phase.X) as current:`` — under the request's lock for the whole block,
        whether the request is in ``phase`` (and stays in it until the block ends)."""
        with self._lock:
            yield self._phase is phase
