"""The first minutes of a new knowledge base: how soon a cited answer comes, and how quick every command is.

    .venv/bin/python bench/first_answer.py [--corpus DIR] [--after 20] [--until-answer] [--json]
    .venv/bin/python bench/first_answer.py --cold DATA_DIR      # only the cold commands, on a built base

Into an empty data directory it starts ``mdbot ingest`` of the manual (with the installed examples and
potentials, as ``make run`` does) and, ``--after`` seconds later, runs ``mdbot ask QUESTION --json`` in a
second process while the ingest goes on: the time that answer takes and whether it cites the right page.
It records every line the ingest prints with the time it came (the longest silence of any phase, the rate
and time left it reports) and the whole ingest's time. Then, with the knowledge base complete, cold
``mdbot search`` and offline ``mdbot ask`` (each a fresh process), three times each. Wall-clock seconds on
this machine; nothing here is a test. ``--until-answer`` interrupts the ingest (SIGINT, as Ctrl-C) once the
answer is in, to measure the first minute only; the ingest resumes when run again.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MDBOT = Path(sys.executable).with_name("mdbot")
QUESTION = "How do I keep water molecules rigid during the run?"
GOLD = {"fix_shake", "fix_rigid", "Howto_spc", "Howto_tip3p", "Howto_tip4p"}
SEARCH = "Nose-Hoover chain thermostat tchain"
TARGETS = {"first_answer_s": 10.0, "ingest_s": 180.0, "cold_search_s": 3.0, "cold_ask_s": 3.0, "silence_s": 10.0}


def timed(args: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run([str(MDBOT), *args], capture_output=True, text=True, env=env, timeout=3600)
    return time.perf_counter() - start, proc


def cold(env: dict) -> dict:
    """Median wall time of three fresh ``mdbot search`` and three offline ``mdbot ask`` processes."""
    searches = [timed(["search", SEARCH, "--json", "-k", "5"], env)[0] for _ in range(3)]
    asks = [timed(["ask", QUESTION, "--json"], env)[0] for _ in range(3)]
    return {"cold_search_s": round(statistics.median(searches), 2), "cold_ask_s": round(statistics.median(asks), 2),
            "cold_search_all_s": [round(x, 2) for x in searches], "cold_ask_all_s": [round(x, 2) for x in asks]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora" / "lammps-manual-2024")
    parser.add_argument("--after", type=float, default=20.0, help="seconds after the ingest starts to ask")
    parser.add_argument("--data-dir", type=Path, help="default: a new temporary directory")
    parser.add_argument("--until-answer", action="store_true", help="interrupt the ingest after the answer")
    parser.add_argument("--cold", type=Path, help="only time cold commands on this built data directory")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.cold:
        env = {**os.environ, "MDBOT_DATA_DIR": str(args.cold), "HF_HUB_OFFLINE": "1"}
        out = cold(env)
        print(json.dumps(out, indent=2) if args.json else f"cold mdbot search {out['cold_search_s']} s, "
              f"cold offline mdbot ask {out['cold_ask_s']} s (median of 3)")  # fmt: skip
        return
    data = args.data_dir or Path(tempfile.mkdtemp(prefix="mdbot-first-answer-"))
    env = {**os.environ, "MDBOT_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"}

    lines: list[tuple[float, str]] = []
    t0 = time.perf_counter()
    ingest = subprocess.Popen(
        [str(MDBOT), "ingest", str(args.corpus)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
        text=True, env=env,
    )  # fmt: skip

    def read() -> None:
        for line in ingest.stderr:
            lines.append((time.perf_counter() - t0, line.rstrip()))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(max(0.0, args.after - (time.perf_counter() - t0)))  # a benchmark's schedule, not a test
    asked_at = time.perf_counter() - t0
    ask_s, ask = timed(["ask", QUESTION, "--json"], env)
    running_after_ask = ingest.poll() is None
    search_s, search = timed(["search", SEARCH, "--json", "-k", "3"], env)
    turn = json.loads(ask.stdout) if ask.returncode == 0 else {}
    cited = [c["doc_id"] for c in turn.get("citations", [])]
    print(f"ask at {asked_at:.1f} s: {ask_s:.2f} s, cites {cited[:5]}; search {search_s:.2f} s", file=sys.stderr)
    if args.until_answer:
        ingest.send_signal(signal.SIGINT)
    ingest.wait()
    reader.join()
    ingest_s = time.perf_counter() - t0
    gaps = [b[0] - a[0] for a, b in zip([(0.0, "")] + lines, lines, strict=False)]
    report = {
        "corpus": str(args.corpus),
        "first_answer": {
            "asked_at_s": round(asked_at, 1),
            "seconds": round(ask_s, 2),
            "exit": ask.returncode,
            "outcome": turn.get("outcome"),
            "cites": cited[:5],
            "right_page": bool(GOLD & set(cited)),
            "ingest_still_running": running_after_ask,
            "search_during_ingest_s": round(search_s, 2),
            "search_top": [h["doc_id"] for h in json.loads(search.stdout)] if search.returncode == 0 else [],
        },
        "ingest_s": round(ingest_s, 1),
        "ingest_exit": ingest.returncode,
        "longest_silence_s": round(max(gaps), 1) if gaps else None,
        "ingest_lines": [f"{t:6.1f} s  {line}" for t, line in lines],
        **({} if args.until_answer else cold(env)),
        "targets": TARGETS,
        "data_dir": str(data),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    fa = report["first_answer"]
    print("\n".join(report["ingest_lines"]))
    print(
        f"\nmdbot ask at {fa['asked_at_s']} s into the ingest: {fa['seconds']} s (target < 10 s), "
        f"outcome {fa['outcome']}, cites {fa['cites']}, right page: {fa['right_page']}, ingest still running: "
        f"{fa['ingest_still_running']}; mdbot search then: {fa['search_during_ingest_s']} s → {fa['search_top']}"
    )
    print(f"ingest: {report['ingest_s']} s (target < 180 s); longest silence {report['longest_silence_s']} s")
    if not args.until_answer:
        print(f"cold mdbot search {report['cold_search_s']} s, cold offline mdbot ask {report['cold_ask_s']} s")


if __name__ == "__main__":
    main()
