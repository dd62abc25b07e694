"""The work queue: workers, one request per thread at a time, fair limits, a clean shutdown."""

from __future__ import annotations

import threading

import pytest

from mdbot.bot.jobs import HOUR, Job, JobQueue, Refused
from tests.bot import PATIENT_S


class Starts(list):
    """Names of the jobs that started, in order; :meth:`wait` blocks until there are ``n``."""

    def __init__(self):
        super().__init__()
        self.cond = threading.Condition()

    def add(self, name: str) -> None:
        with self.cond:
            self.append(name)
            self.cond.notify_all()

    def wait(self, n: int) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self) >= n, PATIENT_S)


class Gate:
    """A job body that blocks until released, recording when it started."""

    def __init__(self, started: Starts, name: str):
        self.release, self.started, self.name = threading.Event(), started, name

    def __call__(self):
        self.started.add(self.name)
        assert self.release.wait(PATIENT_S)


def test_workers_threads_and_positions():
    q = JobQueue(workers=2, queue_limit=10, user_concurrency=10, user_rate=100)
    started = Starts()
    gates = {n: Gate(started, n) for n in ("a1", "a2", "b1", "c1")}

    assert q.submit(Job("u1", "thread-a", gates["a1"])) is None  # starts at once
    started.wait(1)
    assert q.submit(Job("u2", "thread-a", gates["a2"])) == 0  # same thread: waits, nobody ahead
    assert q.submit(Job("u3", "thread-b", gates["b1"])) is None  # a worker is free; a2 can't run yet
    started.wait(2)
    assert q.submit(Job("u4", "thread-c", gates["c1"])) == 1  # both workers busy, a2 is ahead
    assert started == ["a1", "b1"]  # b1 overtook a2, whose thread was busy
    gates["a1"].release.set()
    started.wait(3)
    assert started[2] == "a2"  # the thread's next message, in order
    for g in gates.values():
        g.release.set()
    assert q.wait_idle(PATIENT_S)
    assert started == ["a1", "b1", "a2", "c1"]


def test_user_concurrency_rate_and_queue_limits():
    now = [1000.0]
    q = JobQueue(workers=1, queue_limit=2, user_concurrency=2, user_rate=3, clock=lambda: now[0])
    started = Starts()
    gate = Gate(started, "x")
    q.submit(Job("alice", "t1", gate))
    started.wait(1)  # t1 runs; the rest waits for the one worker
    q.submit(Job("alice", "t2", gate))
    with pytest.raises(Refused, match="already have 2 request"):
        q.submit(Job("alice", "t3", gate))
    q.submit(Job("bob", "t4", gate))
    with pytest.raises(Refused, match="busy: 2 requests are waiting"):
        q.submit(Job("dave", "t6", gate))
    assert q.refusal("dave").startswith("I'm busy")
    gate.release.set()
    assert q.wait_idle(PATIENT_S)
    q.submit(Job("alice", "t7", lambda: None))
    assert q.wait_idle(PATIENT_S)
    with pytest.raises(Refused, match=r"3 requests in the last hour.*about 60 minute"):
        q.submit(Job("alice", "t8", lambda: None))
    now[0] += HOUR + 1  # an hour later alice may ask again
    assert q.submit(Job("alice", "t9", lambda: None)) is None
    assert q.wait_idle(PATIENT_S)


def test_a_failing_job_does_not_stop_the_worker():
    q = JobQueue(workers=1)
    done = threading.Event()

    def boom():
        raise RuntimeError("bug")

    q.submit(Job("u", "t1", boom))
    q.submit(Job("u", "t2", done.set))
    assert done.wait(PATIENT_S)
    assert q.wait_idle(PATIENT_S) and q.counts() == (0, 0)


def test_shutdown_tells_waiting_users_and_lets_running_finish():
    q = JobQueue(workers=1, user_concurrency=5)
    started = Starts()
    running = Gate(started, "running")
    told: list = []

    def cancelled(why: str) -> None:  # shutdown tells the waiting user first, then waits for the running job
        told.append(why)
        running.release.set()

    q.submit(Job("u1", "t1", running))
    q.submit(Job("u2", "t2", lambda: started.add("never"), cancel=cancelled))
    started.wait(1)
    assert q.shutdown(grace_s=PATIENT_S) == 0
    assert started == ["running"] and told and "send it again" in told[0]


def test_shutdown_tells_users_whose_request_outlives_the_grace():
    q = JobQueue(workers=1)
    started = Starts()
    stuck = Gate(started, "stuck")
    told: list = []
    q.submit(Job("u1", "t1", stuck, cancel=told.append))
    started.wait(1)
    assert q.shutdown(grace_s=0.05) == 1
    assert told == ["I was stopped while working on this request; please send it again."]
    stuck.release.set()
    with pytest.raises(Refused, match="restarting"):
        q.submit(Job("u3", "t3", lambda: None))
