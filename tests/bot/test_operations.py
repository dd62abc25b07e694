"""Operations: retention with its floor and its command, readiness in HTTP mode, the coordination store's
claims and take-over (on a real SQLite journal)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from mdbot.bot.retention import prune


def _dir(path: Path, age_days: float) -> Path:
    path.mkdir(parents=True)
    f = path / "log.lammps"
    f.write_text("x" * 1000)
    t = time.time() - age_days * 86400
    os.utime(f, (t, t))
    os.utime(path, (t, t))
    return path


def test_retention_removes_old_directories_and_never_a_recent_one(tmp_path):
    data = tmp_path / "data"
    old = _dir(data / "jobs" / "old", 40)
    young = _dir(data / "jobs" / "young", 5)
    running = _dir(data / "jobs" / "running", 40)
    (running / "log.lammps").write_text("still writing")  # changed now: within the floor
    attach = _dir(data / "slack" / "CLAB" / "1700000000_000100", 40)
    (data / "jobs" / "link").symlink_to(old)
    dry = prune(data, data / "jobs", days=30, floor_h=24, dry_run=True)
    assert sorted(Path(p).name for p in dry.removed) == ["1700000000_000100", "old"] and old.exists()
    report = prune(data, data / "jobs", days=30, floor_h=24)
    assert not old.exists() and not attach.exists() and young.exists() and running.exists()
    assert report.kept_recent == 1 and report.kept_young == 1 and report.freed_mb > 0
    assert prune(data, data / "jobs", days=0, floor_h=24).removed == []  # 0: kept forever


def test_prune_command(tmp_path):
    data = tmp_path / "data"
    _dir(data / "jobs" / "old", 400)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDBOT_")} | {"MDBOT_DATA_DIR": str(data)}
    out = subprocess.run([sys.executable, "-m", "mdbot.cli", "prune", "--json"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True)  # fmt: skip
    doc = json.loads(out.stdout)
    assert len(doc["removed"]) == 1 and not (data / "jobs" / "old").exists()


def test_readiness_and_liveness_in_http_mode(slack_app):
    from mdbot.bot.server import http_server

    h = slack_app(retrieval=False)
    server = http_server(h.bot.app, 0, "127.0.0.1", ready=h.bot.ready)
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with urllib.request.urlopen(base + "/readyz") as resp:
            assert resp.status == 200 and resp.read().startswith(b"ready")
        with urllib.request.urlopen(base + "/healthz") as resp:
            assert resp.status == 200
        h.bot.close(grace_s=0)
        try:
            urllib.request.urlopen(base + "/readyz")
            raise AssertionError("a stopping bot must not be ready")
        except urllib.error.HTTPError as exc:
            assert exc.code == 503 and b"stopping" in exc.read()
    finally:
        server.shutdown()
        server.server_close()


def test_coordination_claims_once_and_takes_over_a_silent_process(tmp_path):
    from mdbot.graph.journal import Journal
    from mdbot.graph.journal.coordination import Coordination

    journal = Journal(f"sqlite:///{tmp_path / 'j.sqlite'}")
    try:
        now = [1000.0]
        a = Coordination(journal.engine, me="a", lease_s=30, clock=lambda: now[0])
        b = Coordination(journal.engine, me="b", lease_s=30, clock=lambda: now[0])
        a.register("socket")
        b.register("socket")
        assert a.first_event("event:Ev1", {"event": {"type": "app_mention"}})
        assert not b.first_event("event:Ev1", {"event": {"type": "app_mention"}})  # the retry, elsewhere
        cols = dict(
            thread_id="C:1", user_id="U", channel="C", thread_ts="1", message_ts="1", text="hi", files=[]
        )
        assert a.open_request("r1", "C:1", **cols) and not b.open_request("r2", "C:1", **cols)
        a.set_request("r1", state="queued", status_ts="2")
        b.heartbeat()
        assert b.take_over() == []  # a is alive
        now[0] += 31  # a stays silent past its lease; b beats
        b.heartbeat()
        claimed = b.take_over()
        assert sorted(c.kind for c in claimed) == ["event", "request"]
        assert b.take_over() == [] and a.take_over() == []  # taken once: a second look finds nothing
        assert b.request("r1")["owner"] == "b"
        b.follow("C:1")
        b.follow("C:1")
        assert a.follows("C:1")
    finally:
        journal.close()


def test_one_log_line_per_event_with_its_request_id(slack_app, caplog):
    """Each delivery logs one line — event id, type, the request it became, outcome, duration — and each
    step of that request one line with the same request id."""
    import logging
    import re

    from tests.bot.slack_api import BOT_USER, message_event

    caplog.set_level(logging.INFO)
    h = slack_app()
    ts = "5500.000100"
    mention = message_event(f"<@{BOT_USER}> what can you do?", kind="app_mention", ts=ts)
    assert h.send.event(mention, event_id="EvLOG0001")[0] == 200
    assert h.send.event(mention, event_id="EvLOG0001", retry=1)[0] == 200  # Slack's retry
    assert (
        h.send.event({**mention, "type": "message", "channel_type": "channel"}, event_id="EvLOG0002")[0]
        == 200
    )
    assert h.send.event(message_event("lunch anyone?", ts="5500.000200"), event_id="EvLOG0003")[0] == 200
    h.answers("CLAB", ts)
    h.settle()
    (row,) = [r for r in h.bot.fleet.requests() if r["message_ts"] == ts]

    def lines(prefix: str) -> list[dict]:
        out = []
        for record in caplog.records:
            text = record.getMessage()
            if text.startswith(prefix):
                out.append(dict(re.findall(r"(\w+)=(\S+)", text)))
        return out

    def settled() -> bool:  # the event's line is written once its listener returns, after the Slack calls
        return len(lines("event=")) >= 4 and any(r.get("state") == "answered" for r in lines("request="))

    assert h.slack.wait_for(settled), [r.getMessage() for r in caplog.records]
    events = lines("event=")
    by_id: dict[str, list[dict]] = {}
    for e in events:
        by_id.setdefault(e["event"], []).append(e)
    assert sorted(by_id) == ["EvLOG0001", "EvLOG0002", "EvLOG0003"]
    first, retry = sorted(by_id["EvLOG0001"], key=lambda e: e["outcome"] == "duplicate")
    assert retry["outcome"] == "duplicate" and retry["request"] == "-"
    (twin,) = by_id["EvLOG0002"]  # the same message as `message`: whichever listener runs first takes it
    took, other = sorted([first, twin], key=lambda e: e["outcome"] != "queued")
    assert took["request"] == row["id"] and took["outcome"] == "queued"
    assert other["outcome"] == "taken-already" and other["request"] == "-"
    assert {first["type"], twin["type"]} == {"app_mention", "message"}
    (lunch,) = by_id["EvLOG0003"]
    assert lunch["outcome"] == "ignored"
    assert all(int(e["duration_ms"]) >= 0 and e["channel"] == "CLAB" for e in events)
    steps = [r for r in lines("request=") if r["request"] == row["id"]]
    assert [r["state"] for r in steps] == ["queued", "started", "answered"]
    assert all(r["thread"] == f"CLAB:{ts}" and r["user"] == "UALICE" for r in steps)
