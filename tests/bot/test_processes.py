"""Two ``mdbot slack`` processes, one local Socket Mode server, one journal database: every event answered once.

The Socket Mode server speaks Slack's envelope protocol to every connection (``hello``, envelopes,
acknowledgements by ``envelope_id``), spreads the envelopes over the connections as Slack does, and redelivers
an envelope whose connection closed before acknowledging it (``retry_attempt`` + 1), as Slack retries. The
brains are offline (no model, no knowledge base: a "what can you do?" is answered by the help rule), so the
burst measures the coordination, not LAMMPS.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.bot import PATIENT_S
from tests.bot.slack_api import APP_TOKEN, BOT_TOKEN, BOT_USER, TEAM, MockSlack, message_event

ROOT = Path(__file__).resolve().parents[2]


class SocketFleetServer:
    """A Socket Mode endpoint for several connections (Slack allows up to ten per app)."""

    def __init__(self):
        from websockets.sync.server import serve

        self._cond = threading.Condition()
        self.connections: list = []  # open websockets, in the order they connected
        self.unacked: dict[object, dict[str, dict]] = {}  # ws -> envelope id -> envelope
        self.acked: set[str] = set()
        self.sent_at: dict[str, float] = {}  # envelope id -> time.monotonic() sent / acknowledged
        self.acked_at: dict[str, float] = {}
        self.redelivered = 0
        self._next = itertools.count()
        self._server = serve(self._handle, "127.0.0.1", 0)
        self.port = self._server.socket.getsockname()[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _handle(self, ws):
        with self._cond:
            self.connections.append(ws)
            self.unacked[ws] = {}
            self._cond.notify_all()
        ws.send(json.dumps({"type": "hello", "num_connections": 2, "connection_info": {"app_id": "A0MDBOT"}}))
        try:
            for raw in ws:
                eid = json.loads(raw).get("envelope_id")
                with self._cond:
                    self.unacked[ws].pop(eid, None)
                    self.acked.add(eid)
                    self.acked_at.setdefault(eid, time.monotonic())
                    self._cond.notify_all()
        except Exception:  # noqa: BLE001 - a killed process drops its connection mid-frame
            pass
        finally:
            with self._cond:
                self.connections.remove(ws)
                orphans = list(self.unacked.pop(ws).values())
            for envelope in orphans:  # Slack retries what was not acknowledged, on another connection
                self.redelivered += 1
                self.send(envelope["payload"], envelope["envelope_id"] + "r", envelope["retry_attempt"] + 1)

    def wait_connections(self, n: int) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.connections) >= n, PATIENT_S)

    def send(self, payload: dict, envelope_id: str, retry: int = 0, to: int | None = None) -> None:
        envelope = {"envelope_id": envelope_id, "type": "events_api", "payload": payload,
                    "accepts_response_payload": False, "retry_attempt": retry,
                    "retry_reason": "timeout" if retry else ""}  # fmt: skip
        with self._cond:
            assert self._cond.wait_for(lambda: self.connections, PATIENT_S), "no connection left"
            ws = self.connections[(next(self._next) if to is None else to) % len(self.connections)]
            self.unacked[ws][envelope_id] = envelope
            self.sent_at[envelope_id] = time.monotonic()
        try:
            ws.send(json.dumps(envelope))
        except Exception:  # noqa: BLE001 - closed meanwhile: its handler redelivers what it had
            pass

    def close(self):
        self._server.shutdown()


def mention(n: int, base: int) -> dict:
    ts = f"{base + n}.000100"
    event = message_event(f"<@{BOT_USER}> what can you do?", user=f"U{n % 25:03d}", kind="app_mention", ts=ts)
    return {"team_id": TEAM, "api_app_id": "A0MDBOT", "event": event, "type": "event_callback",
            "event_id": f"Ev{base + n:010d}", "event_time": base + n}  # fmt: skip


def start_bots(
    slack: MockSlack, server: SocketFleetServer, tmp_path: Path, n: int = 2, database_url: str | None = None
) -> list:
    """``n`` `mdbot slack` processes in Socket Mode on one SQLite journal under ``tmp_path`` (or the database
    at ``database_url``); [(Popen, log)]."""
    slack.socket_url = f"ws://127.0.0.1:{server.port}/link/?ticket=test"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDBOT_")}
    env.update(
        MDBOT_DATA_DIR=str(tmp_path / "data"), MDBOT_SLACK_BOT_TOKEN=BOT_TOKEN, MDBOT_SLACK_APP_TOKEN=APP_TOKEN,
        MDBOT_SLACK_API_URL=slack.api_url, MDBOT_SLACK_LEASE_S="8", MDBOT_SLACK_HEARTBEAT_S="1",
        MDBOT_SLACK_USER_CONCURRENCY="50", MDBOT_SLACK_USER_RATE="1000", MDBOT_SLACK_QUEUE_LIMIT="500",
        MDBOT_SLACK_PROGRESS_INTERVAL_S="0", MDBOT_JUDGE="false", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1",
    )  # fmt: skip
    if database_url:
        env["MDBOT_DATABASE_URL"] = database_url
    procs = []
    for i in range(n):
        log = open(tmp_path / f"bot{i}.log", "w")  # noqa: SIM115 - closed by stop_bots
        procs.append((subprocess.Popen([sys.executable, "-m", "mdbot.cli", "slack"], cwd=tmp_path, env=env,
                                       stdout=log, stderr=subprocess.STDOUT), log))  # fmt: skip
    assert server.wait_connections(n), [(tmp_path / f"bot{i}.log").read_text() for i in range(n)]
    return procs


def stop_bots(procs: list) -> None:
    for proc, log in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(PATIENT_S)
        log.close()


@pytest.fixture
def fleet(tmp_path):
    """Two `mdbot slack` processes in Socket Mode on one SQLite journal."""
    with MockSlack() as slack:
        server = SocketFleetServer()
        procs = []
        try:
            procs = start_bots(slack, server, tmp_path, 2)
            yield slack, server, procs, tmp_path
        finally:
            stop_bots(procs)
            server.close()


def _threads(slack: MockSlack, base: int, n: int) -> dict[str, list]:
    out = defaultdict(list)
    for m in list(slack.messages.values()):
        if m.channel == "CLAB" and m.thread_ts and base <= float(m.thread_ts) < base + n:
            out[m.thread_ts].append(m)
    return out


def _answered(messages) -> int:
    return sum('"mdbot_feedback"' in json.dumps(m.blocks) for m in messages)


def _told(messages) -> int:
    return sum("🔁" in m.all_text() or "please send it again" in m.all_text() for m in messages)


def _until(predicate) -> bool:
    """Wait for a condition nothing notifies (a row in the journal's database): look again every 50 ms,
    for at most PATIENT_S; True as soon as it holds."""
    deadline, tick = time.monotonic() + PATIENT_S, threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            return False
        tick.wait(0.05)
    return True


def test_two_processes_answer_each_mention_once_and_survive_one_being_killed(fleet):
    slack, server, procs, tmp_path = fleet
    # 1. 100 mentions in a burst, spread over both connections; every tenth delivered again (a Slack retry)
    base = 10_000
    for n in range(100):
        server.send(mention(n, base), f"a{n}")
        if n % 10 == 0:
            server.send(mention(n, base), f"a{n}-retry", retry=1)
    done = lambda: sum(_answered(ms) for ms in _threads(slack, base, 100).values()) >= 100  # noqa: E731
    assert slack.wait_for(done), [(tmp_path / f"bot{i}.log").read_text()[-3000:] for i in range(2)]
    threads = _threads(slack, base, 100)
    assert len(threads) == 100 and all(_answered(ms) == 1 for ms in threads.values())
    assert all(p.poll() is None for p, _ in procs)
    assert all(
        "outcome=queued" in (tmp_path / f"bot{i}.log").read_text() for i in range(2)
    )  # both took events

    # 2. another burst; one process is killed (SIGKILL: no goodbye) a third of the way in
    base2 = 20_000
    for n in range(60):
        if n == 20:
            procs[0][0].kill()
            procs[0][0].wait(PATIENT_S)
        server.send(mention(n, base2), f"b{n}")
        if n % 10 == 0:
            server.send(mention(n, base2), f"b{n}-retry", retry=1)

    def settled() -> bool:
        threads = _threads(slack, base2, 60)
        return len(threads) == 60 and all(_answered(ms) + _told(ms) >= 1 for ms in threads.values())

    assert slack.wait_for(settled), [(tmp_path / f"bot{i}.log").read_text()[-3000:] for i in range(2)]
    threads = _threads(slack, base2, 60)
    assert all(_answered(ms) <= 1 for ms in threads.values())  # never answered twice
    assert all(_told(ms) <= 1 for ms in threads.values())  # and told at most once
    # nothing lost in the journal: every request is there, and none is left open
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'journal.sqlite'}")

    def states() -> dict[str, str]:
        with engine.connect() as conn:
            return dict(conn.execute(text("SELECT message_ts, state FROM slack_requests")).all())

    # the survivor records each answer right after posting it: the journal settles just after the threads
    assert _until(lambda: set(states().values()) <= {"answered", "closed"}), set(states().values())
    states = states()
    engine.dispose()
    assert len(states) == 160
    assert {s for s in states.values()} <= {"answered", "closed"}, {s for s in states.values()}
    log1 = (tmp_path / "bot1.log").read_text()
    assert "took over" in log1 or server.redelivered  # the survivor finished the dead one's work
