"""Several `mdbot slack` processes on one journal database: who is alive, which events were seen, which threads
the bot follows, and which requests are in flight with the process that owns them.

Every decision two processes could race on is one atomic statement: an event or a request is claimed by
the INSERT that succeeds (a primary or unique key refuses the second), and work of a process that is gone is
taken over by an UPDATE that names the old owner (so only one taker gets the row). SQLite (WAL, busy
timeout: journal/store.py) and PostgreSQL alike. The tables are migration 0003's (docs/architecture.md §6).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from .models import SlackEvent, SlackProcess, SlackRequest, SlackThread

OPEN = ("new", "queued", "started")  # request states that still need an answer
FINAL = ("answered", "closed")


@dataclass
class Claimed:
    """A row taken over from a process that is gone: an event to handle again, or a request to finish."""

    kind: str  # "event" or "request"
    key: str
    body: dict | None = None  # the event as Slack sent it
    request: dict | None = None  # the request row's columns


def process_id() -> str:
    """A name unique to this process (host, pid, random), readable in logs."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Coordination:
    """The coordination tables on the journal's engine. Thread-safe: one session per call."""

    def __init__(self, engine: Engine, me: str | None = None, lease_s: float = 30.0, clock=time.time):
        self.engine, self.me, self.lease_s, self.clock = engine, me or process_id(), lease_s, clock
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    # ----------------------------------------------------------------------------------------- processes
    def register(self, mode: str) -> None:
        now = self.clock()
        with self.sessions.begin() as s:
            s.merge(SlackProcess(id=self.me, host=socket.gethostname()[:200], pid=os.getpid(), mode=mode,
                                 started_at=now, heartbeat_at=now, stopped_at=None))  # fmt: skip

    def heartbeat(self) -> None:
        with self.sessions.begin() as s:
            s.execute(
                update(SlackProcess).where(SlackProcess.id == self.me).values(heartbeat_at=self.clock())
            )

    def stopped(self) -> None:
        """This process stops: what it still owns is another's to take at once."""
        with self.sessions.begin() as s:
            s.execute(update(SlackProcess).where(SlackProcess.id == self.me).values(stopped_at=self.clock()))

    def alive(self) -> list[dict]:
        """The processes whose heartbeat is within the lease (for the Home tab and readiness)."""
        cutoff = self.clock() - self.lease_s
        with self.sessions() as s:
            rows = s.scalars(
                select(SlackProcess).where(
                    SlackProcess.heartbeat_at >= cutoff, SlackProcess.stopped_at.is_(None)
                )
            )
            return [{"id": p.id, "host": p.host, "pid": p.pid, "mode": p.mode} for p in rows]

    def _live(self):
        """The ids of processes alive now; an owner not among them is gone (stopped, silent for longer than
        the lease, or never registered)."""
        cutoff = self.clock() - self.lease_s
        return select(SlackProcess.id).where(
            SlackProcess.heartbeat_at >= cutoff, SlackProcess.stopped_at.is_(None)
        )

    # ----------------------------------------------------------------------------------------- events
    def first_event(self, key: str, body: dict | None) -> bool:
        """True for the first delivery of ``key`` anywhere (this process now owns it), False for a duplicate.
        ``body`` is kept until :meth:`event_done`, so the event survives its process; None: done at once."""
        row = SlackEvent(key=key, owner=self.me, state="new" if body is not None else "done", body=body,
                         received_at=self.clock())  # fmt: skip
        try:
            with self.sessions.begin() as s:
                s.add(row)
            return True
        except IntegrityError:
            return False

    def event_done(self, key: str) -> None:
        with self.sessions.begin() as s:
            s.execute(update(SlackEvent).where(SlackEvent.key == key).values(state="done", body=None))

    def prune_events(self, older_than_s: float = 7200.0) -> int:
        """Forget handled events older than Slack's retries (about an hour)."""
        cutoff = self.clock() - older_than_s
        with self.sessions.begin() as s:
            result = s.execute(
                delete(SlackEvent).where(SlackEvent.received_at < cutoff, SlackEvent.state == "done")
            )
            return result.rowcount or 0

    # ----------------------------------------------------------------------------------------- threads
    def follow(self, thread_id: str) -> None:
        try:
            with self.sessions.begin() as s:
                s.add(SlackThread(thread_id=thread_id, since=self.clock()))
        except IntegrityError:
            pass  # followed already

    def follows(self, thread_id: str) -> bool:
        with self.sessions() as s:
            return s.get(SlackThread, thread_id) is not None

    # ----------------------------------------------------------------------------------------- requests
    def open_request(self, request_id: str, key: str, **columns) -> bool:
        """Claim the message ``key`` for a new request owned here; False when a request for it exists."""
        now = self.clock()
        row = SlackRequest(id=request_id, key=key, state="new", owner=self.me, created_at=now, updated_at=now,
                           **columns)  # fmt: skip
        try:
            with self.sessions.begin() as s:
                s.add(row)
            return True
        except IntegrityError:
            return False

    def set_request(self, request_id: str, **values) -> None:
        """Record a step of a request (state, status message, turn id, note)."""
        with self.sessions.begin() as s:
            s.execute(
                update(SlackRequest)
                .where(SlackRequest.id == request_id)
                .values(updated_at=self.clock(), **values)
            )

    def request(self, request_id: str) -> dict | None:
        with self.sessions() as s:
            row = s.get(SlackRequest, request_id)
            return _columns(row) if row else None

    def requests(
        self, user_id: str | None = None, limit: int = 10, states: Iterable[str] | None = None
    ) -> list[dict]:
        """Requests, newest first (a member's for their Home tab; all for counts and tests)."""
        q = select(SlackRequest).order_by(SlackRequest.created_at.desc()).limit(limit)
        if user_id:
            q = q.where(SlackRequest.user_id == user_id)
        if states:
            q = q.where(SlackRequest.state.in_(list(states)))
        with self.sessions() as s:
            return [_columns(r) for r in s.scalars(q)]

    def counts(self) -> dict[str, int]:
        """Requests by state."""
        with self.sessions() as s:
            rows = s.execute(select(SlackRequest.state, func.count()).group_by(SlackRequest.state))
            return {state: n for state, n in rows}

    # ----------------------------------------------------------------------------------------- take-over
    def take_over(self) -> list[Claimed]:
        """Claim the open events and requests of processes that are gone. Each row goes to exactly one
        taker: the UPDATE names the owner it saw, so a second taker's UPDATE matches nothing."""
        live = self._live()
        out: list[Claimed] = []
        with self.sessions() as s:
            events = list(s.execute(select(SlackEvent.key, SlackEvent.owner).where(
                SlackEvent.state == "new", SlackEvent.owner != self.me, SlackEvent.owner.not_in(live))))  # fmt: skip
            requests = list(s.execute(select(SlackRequest.id, SlackRequest.owner).where(
                SlackRequest.state.in_(OPEN), SlackRequest.owner != self.me,
                SlackRequest.owner.not_in(live))))  # fmt: skip
        for key, owner in events:
            with self.sessions.begin() as s:
                got = s.execute(update(SlackEvent).where(SlackEvent.key == key, SlackEvent.owner == owner,
                                                         SlackEvent.state == "new").values(owner=self.me))  # fmt: skip
                if got.rowcount == 1:
                    out.append(Claimed("event", key, body=s.get(SlackEvent, key).body))
        for request_id, owner in requests:
            with self.sessions.begin() as s:
                got = s.execute(update(SlackRequest).where(
                    SlackRequest.id == request_id, SlackRequest.owner == owner, SlackRequest.state.in_(OPEN),
                ).values(owner=self.me, updated_at=self.clock()))  # fmt: skip
                if got.rowcount == 1:
                    out.append(
                        Claimed("request", request_id, request=_columns(s.get(SlackRequest, request_id)))
                    )
        return out

    def stale(self) -> int:
        """Open requests whose owner is gone (before anyone took them over): readiness reports them."""
        with self.sessions() as s:
            q = (
                select(func.count())
                .select_from(SlackRequest)
                .where(SlackRequest.state.in_(OPEN), SlackRequest.owner.not_in(self._live()))
            )
            return s.scalar(q) or 0


def _columns(row: SlackRequest) -> dict:
    return {c.name: getattr(row, c.name) for c in SlackRequest.__table__.columns}
