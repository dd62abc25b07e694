"""This process among several: events seen, threads followed and requests in flight, shared through the
journal's database when there is one (:mod:`mdbot.graph.journal.coordination`), in memory when not.

Two or more ``mdbot slack`` processes (Socket Mode spreads events over up to ten connections; HTTP mode behind
a load balancer) each answer what they claim first, so every event is answered once, retries included. A
background thread heartbeats this process and takes over the open events and requests of processes that
have gone silent for longer than the lease; the bot then finishes them or tells the member.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

log = logging.getLogger(__name__)


class _Seen:
    """Keys seen in the last hour (Slack retries an event for up to about an hour): one process's memory."""

    def __init__(self, ttl_s: float = 3600.0, size: int = 20_000):
        self.ttl, self.size = ttl_s, size
        self._keys: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            while self._keys and (
                len(self._keys) > self.size or now - next(iter(self._keys.values())) > self.ttl
            ):
                self._keys.popitem(last=False)
            if key in self._keys:
                return False
            self._keys[key] = now
            return True


class Fleet:
    """Shared state of the bot's processes. ``journal`` None: this process alone, in memory."""

    def __init__(self, journal=None, *, lease_s: float = 30.0, heartbeat_s: float = 5.0, mode: str = "http"):
        self.lease_s, self.heartbeat_s, self.mode = lease_s, heartbeat_s, mode
        self.store = None
        if journal is not None:
            from mdbot.graph.journal.coordination import Coordination

            self.store = Coordination(journal.engine, lease_s=lease_s)
            self.store.register(mode)
        self.me = self.store.me if self.store else "local"
        self._seen = _Seen()
        self._followed: set[str] = set()
        self._requests: dict[str, dict] = {}  # memory only: request id -> columns
        self._homes: dict[str, float] = {}  # memory only: member -> time.monotonic() of the last publish
        self._homes_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_beat = time.monotonic()

    @property
    def shared(self) -> bool:
        return self.store is not None

    # ----------------------------------------------------------------------------------------- events
    def first_event(self, key: str, body: dict | None = None) -> bool:
        if self.store is None:
            return self._seen.first(key)
        return self.store.first_event(key, body)

    def event_done(self, key: str) -> None:
        if self.store is not None:
            self.store.event_done(key)

    # ----------------------------------------------------------------------------------------- threads
    def follow(self, thread_id: str) -> None:
        if thread_id in self._followed:
            return
        if len(self._followed) > 50_000:
            self._followed.clear()
        self._followed.add(thread_id)
        if self.store is not None:
            self.store.follow(thread_id)

    def follows(self, thread_id: str) -> bool:
        if thread_id in self._followed:
            return True
        if self.store is not None and self.store.follows(thread_id):
            self._followed.add(thread_id)
            return True
        return False

    # ----------------------------------------------------------------------------------------- requests
    def open(self, request, event: str | None = None) -> bool:
        """Claim ``request``'s message; False when a request for it exists (the same message as
        ``app_mention`` and as ``message``, or delivered to two processes). ``event``: the event that brought
        it is done (recorded in the same transaction)."""
        columns = dict(thread_id=request.thread_id, user_id=request.user, channel=request.channel,
                       thread_ts=request.thread_ts, message_ts=request.message_ts, text=request.text,
                       files=list(request.files))  # fmt: skip
        if self.store is None:
            if not self._seen.first("message:" + request.key):
                return False
            self._requests[request.id] = {
                **columns,
                "id": request.id,
                "state": "new",
                "created_at": time.time(),
            }
            if len(self._requests) > 5_000:
                self._requests.pop(next(iter(self._requests)))
            return True
        return self.store.open_request(request.id, request.key, event=event, **columns)

    def mark(
        self, request, state: str | None, *, follow: str | None = None, only_from=None, **values
    ) -> bool:
        """Record a step of ``request`` (its state, status message, turn id, why it was closed; ``state``
        None: only that it is still being worked on) and follow ``follow``'s thread in the same write. False
        when the request is not this process's any more — another took it over while this one was presumed
        gone — or, with ``only_from``, not in one of those states: then this process must not speak for it."""
        if state is not None:
            values["state"] = state
        if self.store is None:
            if follow:
                self._followed.add(follow)
            row = self._requests.get(request.id)
            if row is None:
                return True
            if only_from is not None and row["state"] not in only_from:
                return False
            row.update(values)
            return True
        if follow:
            if follow in self._followed:
                follow = None
            else:
                self._followed.add(follow)
        try:
            return self.store.set_request(request.id, follow=follow, only_from=only_from, **values)
        except Exception:  # noqa: BLE001 - the member's answer matters more than its record
            log.exception("could not record request %s as %s", request.id, state)
            return True

    # ----------------------------------------------------------------------------------------- Home tabs
    def home_opened(self, user: str) -> None:
        """``user`` opened their Home tab: every process keeps it current (in memory: this one)."""
        if self.store is None:
            self._homes.setdefault(user, -1e9)
            return
        self.store.home_opened(user)

    def home_due(self, user: str, min_interval_s: float, force: bool = False) -> bool:
        """Whether this process publishes ``user``'s Home tab now (claimed: no other process does too)."""
        if self.store is None:
            now = time.monotonic()
            with self._homes_lock:
                if user not in self._homes or (not force and now - self._homes[user] < min_interval_s):
                    return False
                self._homes[user] = now
                return True
        return self.store.home_due(user, min_interval_s, force)

    def requests(self, user_id: str | None = None, limit: int = 10) -> list[dict]:
        if self.store is not None:
            return self.store.requests(user_id, limit)
        rows = [r for r in self._requests.values() if user_id is None or r["user_id"] == user_id]
        return sorted(rows, key=lambda r: r["created_at"], reverse=True)[:limit]

    def counts(self) -> dict[str, int]:
        if self.store is not None:
            return self.store.counts()
        out: dict[str, int] = {}
        for r in self._requests.values():
            out[r["state"]] = out.get(r["state"], 0) + 1
        return out

    # ----------------------------------------------------------------------------------------- take-over
    def start(self, adopt: Callable[[object], None]) -> None:
        """Heartbeat and take over the work of processes that are gone, every ``heartbeat_s``."""
        if self.store is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, args=(adopt,), name="mdbot-fleet", daemon=True)
        self._thread.start()

    def _loop(self, adopt: Callable[[object], None]) -> None:
        beats = 0
        while not self._stop.wait(self.heartbeat_s):
            try:
                self.store.heartbeat()
                self.last_beat = time.monotonic()
                beats += 1
                if beats % 720 == 1:
                    self.store.prune_events()
                for claimed in self.store.take_over():
                    log.info("took over %s %s from a process that is gone", claimed.kind, claimed.key)
                    try:
                        adopt(claimed)
                    except Exception:  # noqa: BLE001 - one bad row must not stop the others
                        log.exception("could not finish %s %s", claimed.kind, claimed.key)
            except Exception:  # noqa: BLE001 - the database may be away for a moment; try again next beat
                log.exception("fleet heartbeat failed")

    @property
    def healthy(self) -> bool:
        """The heartbeat reached the database within the lease (readiness)."""
        return self.store is None or time.monotonic() - self.last_beat < self.lease_s

    def stop(self) -> None:
        """Stop heartbeating; what this process still owns is another's to take at once."""
        self._stop.set()
        if self.store is not None:
            try:
                self.store.stopped()
            except Exception:  # noqa: BLE001
                log.exception("could not record this process as stopped")
