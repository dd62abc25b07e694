"""Several `mdbot slack` processes on one journal database: who is alive, which events were seen, which threads
the bot follows, which requests are in flight with the process that owns them, and whose Home tab is kept.

Every decision two processes could race on is one atomic statement: an event or a request is claimed by
the INSERT that succeeds (``ON CONFLICT DO NOTHING`` on a primary or unique key: the second inserts nothing),
work of a process that is gone is taken over by an UPDATE that names the old owner (so only one taker gets
the row), and every step a process records names itself as the owner (so a process that was presumed gone
while it was only slow learns it lost the request instead of answering it twice). Writes are single short
statements, taken in turn within a process (journal/store.py's write lock: threads queue on a lock instead of
sleeping in SQLite's busy handler), WAL with ``synchronous=NORMAL`` on SQLite; PostgreSQL alike. The tables are
migrations 0003 and 0004's (docs/architecture.md §6).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.engine import Engine

from .models import SlackEvent, SlackHome, SlackProcess, SlackRequest, SlackThread
from .store import write_lock

OPEN = ("new", "queued", "started")  # request states that still need an answer
FINAL = ("answered", "closed")
GONE_NOTE = "the process working on it stopped before it finished; the member was told"


@dataclass
class Claimed:
    """A row taken over from a process that is gone: an event to handle again, or a request to finish."""

    kind: str  # "event" or "request"
    key: str
    body: dict | None = None  # the event as Slack sent it
    request: dict | None = None  # the request row's columns, as they were when it was taken


def process_id() -> str:
    """A name unique to this process (host, pid, random), readable in logs."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def _insert_new(engine: Engine, model):
    """``INSERT … ON CONFLICT DO NOTHING`` in the engine's dialect: rowcount 1 for the first, 0 after."""
    if engine.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    elif engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:  # pragma: no cover - the journal supports SQLite and PostgreSQL
        return insert(model)
    return dialect_insert(model).on_conflict_do_nothing()


class Coordination:
    """The coordination tables on the journal's engine. Thread-safe: one connection per call."""

    def __init__(self, engine: Engine, me: str | None = None, lease_s: float = 30.0, clock=time.time):
        self.engine, self.me, self.lease_s, self.clock = engine, me or process_id(), lease_s, clock
        self._lock = write_lock(engine)

    def _write(self, *statements) -> list[int]:
        """Run ``statements`` in one short transaction, in turn with this process's other writers; their
        rowcounts."""
        with self._lock, self.engine.begin() as conn:
            return [conn.execute(s).rowcount for s in statements]

    def _read(self, statement) -> list:
        with self.engine.connect() as conn:
            return list(conn.execute(statement))

    # ----------------------------------------------------------------------------------------- processes
    def register(self, mode: str) -> None:
        now = self.clock()
        self._write(
            delete(SlackProcess).where(SlackProcess.id == self.me),
            insert(SlackProcess).values(id=self.me, host=socket.gethostname()[:200], pid=os.getpid(), mode=mode,
                                        started_at=now, heartbeat_at=now, stopped_at=None),
        )  # fmt: skip

    def heartbeat(self) -> None:
        self._write(update(SlackProcess).where(SlackProcess.id == self.me).values(heartbeat_at=self.clock()))

    def stopped(self) -> None:
        """This process stops: what it still owns is another's to take at once."""
        self._write(update(SlackProcess).where(SlackProcess.id == self.me).values(stopped_at=self.clock()))

    def alive(self) -> list[dict]:
        """The processes whose heartbeat is within the lease (for the Home tab and readiness)."""
        cols = (SlackProcess.id, SlackProcess.host, SlackProcess.pid, SlackProcess.mode)
        rows = self._read(select(*cols).where(SlackProcess.id.in_(self._live())))
        return [{"id": i, "host": h, "pid": p, "mode": m} for i, h, p, m in rows]

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
        ``body`` is kept until :meth:`event_done`, so the event survives its process; None: done at once.
        One INSERT: this is what an acknowledgement waits for."""
        row = dict(key=key, owner=self.me, state="new" if body is not None else "done", body=body,
                   received_at=self.clock())  # fmt: skip
        return self._write(_insert_new(self.engine, SlackEvent).values(**row))[0] == 1

    def _done(self, key: str):
        return update(SlackEvent).where(SlackEvent.key == key).values(state="done", body=None)

    def event_done(self, key: str) -> None:
        self._write(self._done(key))

    def prune_events(self, older_than_s: float = 7200.0) -> int:
        """Forget handled events older than Slack's retries (about an hour)."""
        cutoff = self.clock() - older_than_s
        gone = delete(SlackEvent).where(SlackEvent.received_at < cutoff, SlackEvent.state == "done")
        return self._write(gone)[0] or 0

    # ----------------------------------------------------------------------------------------- threads
    def _follow(self, thread_id: str):
        return _insert_new(self.engine, SlackThread).values(thread_id=thread_id, since=self.clock())

    def follow(self, thread_id: str) -> None:
        self._write(self._follow(thread_id))  # followed already: nothing inserted

    def follows(self, thread_id: str) -> bool:
        return bool(self._read(select(SlackThread.thread_id).where(SlackThread.thread_id == thread_id)))

    # ----------------------------------------------------------------------------------------- requests
    def open_request(self, request_id: str, key: str, event: str | None = None, **columns) -> bool:
        """Claim the message ``key`` for a new request owned here; False when a request for it exists.
        ``event``: the event that brought it is done, in the same transaction."""
        now = self.clock()
        row = dict(
            id=request_id, key=key, state="new", owner=self.me, created_at=now, updated_at=now, **columns
        )
        statements = [_insert_new(self.engine, SlackRequest).values(**row)]
        if event:
            statements.append(self._done(event))
        return self._write(*statements)[0] == 1

    def set_request(
        self, request_id: str, *, follow: str | None = None, only_from: Iterable[str] | None = None, **values
    ) -> bool:
        """Record a step of a request this process owns (state, status message, turn id, note); False when
        it is not ours any more (taken over while this process was presumed gone) or, with ``only_from``,
        not in one of those states. ``follow``: that thread is followed, in the same transaction."""
        q = update(SlackRequest).where(SlackRequest.id == request_id, SlackRequest.owner == self.me)
        if only_from is not None:
            q = q.where(SlackRequest.state.in_(list(only_from)))
        statements = [q.values(updated_at=self.clock(), **values)]
        if follow:
            statements.append(self._follow(follow))
        return self._write(*statements)[0] == 1

    def request(self, request_id: str) -> dict | None:
        rows = self._read(select(SlackRequest).where(SlackRequest.id == request_id))
        return dict(rows[0]._mapping) if rows else None

    def requests(
        self, user_id: str | None = None, limit: int = 10, states: Iterable[str] | None = None
    ) -> list[dict]:
        """Requests, newest first (a member's for their Home tab; all for counts and tests)."""
        q = select(SlackRequest).order_by(SlackRequest.created_at.desc()).limit(limit)
        if user_id:
            q = q.where(SlackRequest.user_id == user_id)
        if states:
            q = q.where(SlackRequest.state.in_(list(states)))
        return [dict(r._mapping) for r in self._read(q)]

    def counts(self) -> dict[str, int]:
        """Requests by state."""
        return {
            s: n for s, n in self._read(select(SlackRequest.state, func.count()).group_by(SlackRequest.state))
        }

    # ----------------------------------------------------------------------------------------- Home tabs
    def home_opened(self, user_id: str) -> None:
        """``user_id`` uses their Home tab: every process keeps it current from now on."""
        now = self.clock()
        self._write(
            _insert_new(self.engine, SlackHome).values(user_id=user_id, opened_at=now, published_at=None),
            update(SlackHome).where(SlackHome.user_id == user_id).values(opened_at=now),
        )

    def home_due(self, user_id: str, min_interval_s: float, force: bool = False) -> bool:
        """Claim the next publish of ``user_id``'s Home tab: True for the one process that may publish now
        (the member opened the tab somewhere, and no process published it within ``min_interval_s``; with
        ``force``, opened is enough)."""
        now = self.clock()
        q = update(SlackHome).where(SlackHome.user_id == user_id)
        if not force:
            q = q.where(or_(SlackHome.published_at.is_(None), SlackHome.published_at <= now - min_interval_s))
        return self._write(q.values(published_at=now))[0] == 1

    # ----------------------------------------------------------------------------------------- take-over
    def _take(self, model, key_col, key: str, owner: str, states: Iterable[str], **values) -> bool:
        """One row from ``owner`` to this process, if it is still ``owner``'s and in ``states``."""
        q = update(model).where(key_col == key, model.owner == owner, model.state.in_(list(states)))
        return self._write(q.values(owner=self.me, **values))[0] == 1

    def take_over(self) -> list[Claimed]:
        """Claim the open events and requests of processes that are gone. Each row goes to exactly one
        taker: the UPDATE names the owner it saw, so a second taker's UPDATE matches nothing. A request is
        taken only once its own last step is older than the lease too (its owner may be slow, not gone). A
        request that was being worked on is closed by the same UPDATE (its member is told by the taker, once:
        no later take-over finds it open)."""
        live, cutoff = self._live(), self.clock() - self.lease_s
        events = self._read(select(SlackEvent.key, SlackEvent.owner, SlackEvent.body).where(
            SlackEvent.state == "new", SlackEvent.owner != self.me, SlackEvent.owner.not_in(live)))  # fmt: skip
        requests = self._read(select(SlackRequest).where(
            SlackRequest.state.in_(OPEN), SlackRequest.owner != self.me, SlackRequest.owner.not_in(live),
            SlackRequest.updated_at < cutoff))  # fmt: skip
        out: list[Claimed] = []
        for key, owner, body in events:
            if self._take(SlackEvent, SlackEvent.key, key, owner, ["new"]):
                out.append(Claimed("event", key, body=body))
        for row in requests:
            r = dict(row._mapping)
            closing = {"state": "closed", "note": GONE_NOTE} if r["state"] == "started" else {}
            if self._take(SlackRequest, SlackRequest.id, r["id"], r["owner"], [r["state"]],
                          updated_at=self.clock(), **closing):  # fmt: skip
                out.append(Claimed("request", r["id"], request=r))
        return out

    def stale(self) -> int:
        """Open requests whose owner is gone (before anyone took them over): readiness reports them."""
        q = (
            select(func.count())
            .select_from(SlackRequest)
            .where(SlackRequest.state.in_(OPEN), SlackRequest.owner.not_in(self._live()))
        )
        return self._read(q)[0][0] or 0
