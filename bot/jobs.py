"""The bot's work queue: graph runs happen here, not on Bolt's listener threads.

A fixed number of workers (2 cores run 2 LAMMPS jobs well), one request per Slack thread at a time (a
thread's checkpoint is one conversation; two concurrent turns would race), and fairness rules a lab can
explain: each user may have a few requests in flight and so many per hour, and the queue has a length
limit. A refused request gets a :class:`Refused` with a message for the user — never silence.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)
HOUR = 3600.0


class Refused(Exception):
    """The request was not queued; ``str(exc)`` tells the user why and what to do."""


@dataclass
class Job:
    user: str
    thread: str  # jobs of one thread run one after another, in the order they were submitted
    run: Callable[[], None]  # does the work and reports to the user, including its own failures
    cancel: Callable[[str], None] = lambda reason: None  # told when it will not run or finish (shutdown)


class JobQueue:
    def __init__(
        self,
        workers: int = 2,
        queue_limit: int = 50,
        user_concurrency: int = 2,
        user_rate: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.workers, self.queue_limit = workers, queue_limit
        self.user_concurrency, self.user_rate = user_concurrency, user_rate
        self._clock = clock
        self._cond = threading.Condition()
        self._waiting: deque[Job] = deque()
        self._running: dict[str, Job] = {}  # thread -> job
        self._in_flight: dict[str, int] = {}  # user -> waiting + running
        self._recent: dict[str, deque[float]] = {}  # user -> submission times within the last hour
        self._closing = False
        self._threads = [
            threading.Thread(target=self._work, name=f"mdbot-worker-{i}", daemon=True) for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    # ----------------------------------------------------------------------------------------- submit
    def submit(self, job: Job) -> int | None:
        """Queue ``job``. Returns None when it starts at once, else how many requests are ahead of it."""
        with self._cond:
            why = self._refusal(job.user)
            if why:
                raise Refused(why)
            recent = self._recent.setdefault(job.user, deque())
            recent.append(self._clock())
            self._in_flight[job.user] = self._in_flight.get(job.user, 0) + 1
            # It starts now if its thread is idle and a worker is free after the runnable jobs ahead of it.
            runnable_ahead = sum(1 for j in self._waiting if j.thread not in self._running)
            busy_threads = set(self._running) | {j.thread for j in self._waiting}
            starts_now = job.thread not in busy_threads and self.workers - len(self._running) > runnable_ahead
            ahead = len(self._waiting)
            self._waiting.append(job)
            self._cond.notify_all()
            return None if starts_now else ahead

    def refusal(self, user: str) -> str | None:
        """Why a request of ``user`` would be refused now (None: it would be taken)."""
        with self._cond:
            return self._refusal(user)

    def _refusal(self, user: str) -> str | None:
        if self._closing:
            return "I'm restarting; please send that again in a minute."
        now = self._clock()
        recent = self._recent.get(user, deque())
        while recent and now - recent[0] > HOUR:
            recent.popleft()
        if len(recent) >= self.user_rate:
            wait_min = max(1, round((HOUR - (now - recent[0])) / 60))
            return (
                f"You have sent {len(recent)} requests in the last hour, the most I take from one person. "
                f"Please try again in about {wait_min} minute(s)."
            )
        if self._in_flight.get(user, 0) >= self.user_concurrency:
            return (
                f"You already have {self._in_flight[user]} request(s) in progress; I'll take new ones when "
                "one of them is done."
            )
        if len(self._waiting) >= self.queue_limit:
            return f"I'm busy: {len(self._waiting)} requests are waiting. Please try again in a few minutes."
        return None

    # ----------------------------------------------------------------------------------------- workers
    def _next(self) -> Job | None:
        for job in self._waiting:
            if job.thread not in self._running:
                self._waiting.remove(job)
                return job
        return None

    def _work(self) -> None:
        while True:
            with self._cond:
                job = self._next()
                while job is None:
                    if self._closing:
                        return
                    self._cond.wait()
                    job = self._next()
                self._running[job.thread] = job
            try:
                job.run()
            except Exception:  # noqa: BLE001 - job.run reports its own failures; this is the last net
                log.exception("job of %s failed", job.user)
            finally:
                with self._cond:
                    self._running.pop(job.thread, None)
                    self._in_flight[job.user] -= 1
                    if not self._in_flight[job.user]:
                        del self._in_flight[job.user]
                    self._cond.notify_all()

    # ----------------------------------------------------------------------------------------- state
    def counts(self) -> tuple[int, int]:
        """(running, waiting)."""
        with self._cond:
            return len(self._running), len(self._waiting)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing runs or waits (True), or until ``timeout`` (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._running and not self._waiting, timeout)

    def shutdown(self, grace_s: float = 30.0) -> int:
        """Stop taking work: waiting jobs are cancelled (their users are told), running ones get
        ``grace_s`` to finish, and those still running then are told too — the process is about to end
        under them. Returns how many were still running when the grace ran out."""
        with self._cond:
            self._closing = True
            cancelled = list(self._waiting)
            self._waiting.clear()
            for job in cancelled:
                self._in_flight[job.user] -= 1
                if not self._in_flight[job.user]:
                    del self._in_flight[job.user]
            self._cond.notify_all()
        for job in cancelled:
            try:
                job.cancel("I was restarted before I got to this request; please send it again.")
            except Exception:  # noqa: BLE001
                log.exception("could not tell %s about a cancelled request", job.user)
        with self._cond:
            self._cond.wait_for(lambda: not self._running, grace_s)
            unfinished = list(self._running.values())
        for job in unfinished:
            try:
                job.cancel("I was stopped while working on this request; please send it again.")
            except Exception:  # noqa: BLE001
                log.exception("could not tell %s about an interrupted request", job.user)
        return len(unfinished)
