"""The Slack layer under load: N people mention the bot at once (target: every mention acknowledged well
within Slack's 3 s, a visible status at once, each answered exactly once).

    .venv/bin/python bench/slack_load.py [--requests 20] [--workers 2] [--kind qa|run] [--json]
    .venv/bin/python bench/slack_load.py --processes 1 2 [--requests 100] [--database-url URL] [--json]

The real Bolt app behind its real HTTP endpoint, the local Slack Web API of tests/bot/slack_api.py, and a
real brain without a model (offline): ``qa`` answers from the knowledge base in ``--data-dir`` (the manual, if
``make run`` ingested it; otherwise the answer says the knowledge base is empty), ``run`` attaches the demo LJ
script (500 atoms, 500 steps) to every mention, so each request downloads a file and runs LAMMPS in the
sandbox. Per request: the HTTP acknowledgement (against Slack's 3 s: the time is measured here; tests/bot
prove by order that no acknowledgement waits for the work), the time until the status message is in the thread, the time
until the answer replaced it, and the Web API calls it took.

``--processes N…``: N real ``mdbot slack`` processes in Socket Mode on one local Socket Mode server
(tests/bot/test_processes.py) and one SQLite journal (or ``--database-url``: PostgreSQL, emptied of earlier
requests first), the local Slack with the agent features on, offline
brains ("what can you do?" is answered by the help rule: the Slack layer and the coordination are
measured, not a model). Every tenth mention is delivered twice (a Slack retry). Per N: the envelope's
acknowledgement (p95 target < 0.5 s), the first status (the thread's status line, target < 2 s), answers per
minute, and whether each mention was answered exactly once. The machine's load average is printed before and
after each run: a figure taken on a loaded machine says so.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.bot.slack_api import BOT_TOKEN, BOT_USER, SIGNING_SECRET, MockSlack, Sender, message_event  # noqa: E402
from tests.graph.openai_server import DEMO_SCRIPT  # noqa: E402

SLACK_ACK_LIMIT_S = 3.0  # Slack retries (or, for a slash command, fails) a request not acknowledged by then
QUESTION = "What does the Tdamp parameter of the Nose-Hoover thermostat mean?"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict:
    return {"p50": round(statistics.median(values), 3), "p95": round(_pct(values, 0.95), 3),
            "max": round(max(values), 3)}  # fmt: skip


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _empty(database_url: str) -> None:
    """A PostgreSQL journal reused across runs: its coordination rows go, so each run starts alike."""
    from mdbot.graph.journal import Journal

    journal = Journal(database_url)  # migrates a new database
    try:
        from sqlalchemy import text

        with journal.engine.begin() as conn:
            for table in (
                "slack_requests",
                "slack_events",
                "slack_threads",
                "slack_processes",
                "slack_homes",
            ):
                conn.execute(text(f"DELETE FROM {table}"))
    finally:
        journal.close()


def fleet(n_processes: int, requests: int, database_url: str | None = None) -> dict:
    """``requests`` mentions in a burst to ``n_processes`` mdbot slack processes (see the module docstring)."""
    from tests.bot.test_processes import SocketFleetServer, mention, start_bots, stop_bots

    if database_url:
        _empty(database_url)
    work = Path(tempfile.mkdtemp(prefix="mdbot-bench-fleet-"))
    load_before = _loadavg()
    with MockSlack(agent=True) as slack:
        server = SocketFleetServer()
        procs = start_bots(slack, server, work, n_processes, database_url)
        try:
            base = 30_000
            sent = {}
            t0 = time.monotonic()
            for n in range(requests):
                sent[f"{base + n}.000100"] = time.monotonic()
                server.send(mention(n, base), f"e{n}")
                if n % 10 == 0:
                    server.send(mention(n, base), f"e{n}-retry", retry=1)

            def answers() -> dict[str, int]:
                out: dict[str, int] = {}
                for m in list(slack.messages.values()):
                    if m.thread_ts in sent and '"mdbot_feedback"' in json.dumps(m.blocks):
                        out[m.thread_ts] = out.get(m.thread_ts, 0) + 1
                return out

            done = slack.wait_for(lambda: len(answers()) >= requests, 1800)
            last = max(m.at for m in list(slack.messages.values()) if m.thread_ts in sent)
            counts = answers()
            acks = [server.acked_at[e] - server.sent_at[e] for e in server.sent_at if e in server.acked_at]
            first: dict[str, float] = {}
            for st in list(slack.statuses):
                if st["thread_ts"] in sent:
                    first.setdefault(st["thread_ts"], st["at"] - sent[st["thread_ts"]])
        finally:
            stop_bots(procs)
            server.close()
    return {
        "processes": n_processes, "requests": requests, "all_answered": done,
        "exactly_once": done and all(v == 1 for v in counts.values()) and len(counts) == requests,
        "ack_s": _summary(acks), "first_status_s": _summary(list(first.values()) or [float("nan")]),
        "answers_per_min": round(requests / max(1e-9, last - t0) * 60, 1),
        "database": "postgresql" if database_url else "sqlite", "loadavg_before": load_before,
        "loadavg_after": _loadavg(),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--kind", choices=("qa", "run"), default="qa")
    ap.add_argument("--data-dir", type=Path, default=Path(os.environ.get("MDBOT_DATA_DIR", ROOT / ".mdbot")))
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--processes", type=int, nargs="+", help="mdbot slack processes in Socket Mode (see above)"
    )
    ap.add_argument("--database-url", help="with --processes: the journal's database (default: SQLite)")
    args = ap.parse_args()
    if args.processes:
        reports = [fleet(n, args.requests, args.database_url) for n in args.processes]
        if args.json:
            print(json.dumps(reports))
            return
        print(
            f"{args.requests} mentions in a burst (every tenth retried), Socket Mode, offline brains, 2 workers each"
        )
        print(f"{'processes':>10}{'database':>11}{'ack p50/p95 s':>15}{'first status p50/p95 s':>24}"
              f"{'answers/min':>13}{'exactly once':>14}   loadavg before -> after")  # fmt: skip
        for r in reports:
            ack, first = r["ack_s"], r["first_status_s"]
            print(f"{r['processes']:>10}{r['database']:>11}{ack['p50']:>7.3f} /{ack['p95']:>6.3f}"
                  f"{first['p50']:>15.3f} /{first['p95']:>6.3f}{r['answers_per_min']:>13.1f}"
                  f"{str(r['exactly_once']):>14}   {r['loadavg_before']} -> {r['loadavg_after']}")  # fmt: skip
        return

    from mdbot.bot.app import SlackBot
    from mdbot.bot.server import http_server
    from mdbot.bot.settings import SlackSettings
    from mdbot.graph.service import Brain
    from mdbot.graph.settings import GraphSettings
    from mdbot.retrieval.search import Searcher
    from mdbot.retrieval.settings import RetrievalSettings
    from mdbot.sandbox.settings import SandboxSettings

    work = Path(tempfile.mkdtemp(prefix="mdbot-bench-slack-"))
    searcher = Searcher(RetrievalSettings(_env_file=None, data_dir=args.data_dir))
    try:
        searcher.warm_up()
        kb = "knowledge base in " + str(args.data_dir)
    except Exception as exc:  # noqa: BLE001 - an empty knowledge base still exercises the whole path
        kb = f"no knowledge base ({exc})"
    brain = Brain(
        GraphSettings(_env_file=None, data_dir=work),
        sandbox=SandboxSettings(_env_file=None, data_dir=work),
        models={"instruct": None, "code": None, "judge": None},
        searcher=searcher,
    )
    brain.warm_up()
    with MockSlack() as slack:
        settings = SlackSettings(_env_file=None, bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET,
                                 api_url=slack.api_url, workers=args.workers, user_rate=1000)  # fmt: skip
        bot = SlackBot(settings, brain)
        server = http_server(bot.app, 0, "127.0.0.1")
        threading.Thread(target=server.serve_forever, daemon=True).start()
        send = Sender(f"http://127.0.0.1:{server.server_port}/slack/events", slack.base + "/response/")
        events = []
        for n in range(args.requests):
            files = [slack.host_file("in.demo", DEMO_SCRIPT)] if args.kind == "run" else None
            text = f"<@{BOT_USER}> " + ("run this" if files else QUESTION)
            events.append(
                message_event(text, kind="app_mention", user=f"U{n:04d}", ts=f"7000.{n:06d}", files=files)
            )
        calls_before = len(slack.calls)
        t0 = time.monotonic()
        with ThreadPoolExecutor(args.requests) as pool:
            acks = list(pool.map(lambda e: send.event(e), events))
        done = slack.wait_for(lambda: all(slack.final("CLAB", e["ts"]) for e in events), 1800)
        wall = time.monotonic() - t0
        bot.queue.wait_idle(600)
        status, answer, once = [], [], True
        for e in events:
            msgs = slack.thread("CLAB", e["ts"])
            once = once and len(msgs) == 1 and len(slack.final("CLAB", e["ts"])) == 1
            status.append(msgs[0].at - t0)
            answer.append(msgs[0].edits[-1]["at"] - t0)
        calls = len(slack.calls) - calls_before
        server.shutdown()
        bot.close()
    brain.close()
    report = {
        "kind": args.kind, "requests": args.requests, "workers": args.workers, "knowledge": kb,
        "all_answered": done, "each_exactly_once": once,
        "ack_s": _summary([a[2] for a in acks]), "ack_limit_s": SLACK_ACK_LIMIT_S,
        "acks_within_limit": sum(a[2] < SLACK_ACK_LIMIT_S for a in acks),
        "acks_ok": all(a[0] == 200 for a in acks), "status_visible_s": _summary(status),
        "answered_s": _summary(answer), "wall_s": round(wall, 2),
        "web_api_calls_per_request": round(calls / args.requests, 1),
    }  # fmt: skip
    if args.json:
        print(json.dumps(report))
        return
    print(f"{args.requests} concurrent {args.kind} mentions, {args.workers} worker(s); {kb}")
    print(f"all answered: {done}; each exactly once: {once}; wall {wall:.2f} s")
    print(f"{'':28}{'p50':>8}{'p95':>8}{'max':>8}")
    for name, key in (("HTTP ack (s)", "ack_s"), ("status message visible (s)", "status_visible_s"),
                      ("answer in place (s)", "answered_s")):  # fmt: skip
        s = report[key]
        print(f"{name:28}{s['p50']:>8.3f}{s['p95']:>8.3f}{s['max']:>8.3f}")
    print(f"Web API calls per request: {report['web_api_calls_per_request']}")
    within, worst = report["acks_within_limit"], report["ack_s"]["max"]
    verdict = "OK" if within == args.requests and report["acks_ok"] else "OVER"
    print(f"Slack's {SLACK_ACK_LIMIT_S:.0f} s ack limit: {verdict} — {within}/{args.requests} acknowledged within it, "
          f"slowest {worst:.3f} s; HTTP 200 for all: {report['acks_ok']}")  # fmt: skip


if __name__ == "__main__":
    main()
