"""What the generate → check → run → critique loop costs outside the model, per attempt (target < 2 s).

    .venv/bin/python bench/loop_overhead.py [--repeat 5] [--fake] [--json]

Each turn is a real ``Brain.ask`` (graph, checkpointer, journal, sandbox) on a small LJ NVT script (500
atoms, 500 steps). The models are real ``ChatOpenAI`` clients talking to the scripted local server of
tests/graph/openai_server.py (``--fake``: langchain's fake chat models, no HTTP at all). Every model call is
timed on the client side (a callback from start to end, HTTP included) and subtracted, so what remains is
what the loop itself adds; ``sandbox.jobs.check``/``run`` are timed by wrapping them.

Columns, per attempt (median and p95 over the repeats): check (policy + dry run), run (the sandbox's own
``wall_s``: LAMMPS in bubblewrap), run extras (staging, pictures, log parsing and health around it),
critique + graph (rubric, routing rules, checkpoints, journal, everything else), and the sum of all of
these: the time outside the model. Scenarios: a script that works at once; one whose first script fails
and is fixed by a deterministic repair (no model call); one whose fix needs the code model.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.graph.openai_server import DEMO_SCRIPT  # noqa: E402 - needs the repository on sys.path

TARGET_S = 2.0
TASK = "write a LAMMPS script for an LJ liquid at T*=1.5 in NVT"
GOOD = DEMO_SCRIPT  # the scripted server's own demo reply
# One close match ('neigh_modify'): graph/repair.py fixes it without a model.
TYPO = GOOD.replace("neigh_modify every", "neighbour_modify every")
# No installed pair style is close: the code model has to repair it.
INVENTED = GOOD.replace("pair_style lj/cut 2.5", "pair_style lennard/jones 2.5")
# name: (the code model's replies in order, attempts the turn takes)
SCENARIOS: dict[str, tuple[list[str], int]] = {
    "works at once": ([GOOD], 1),
    "deterministic repair": ([TYPO], 2),
    "model repair": ([INVENTED, GOOD], 2),
}
COLUMNS = ("check", "run", "run extras", "critique+graph", "outside model")


class Clock:
    """Seconds spent in model calls, check() and run() during the current turn."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.model = self.check = self.run_call = self.run_wall = 0.0
        self.model_calls = 0
        self._open: dict[uuid.UUID, float] = {}

    def model_started(self, run_id: uuid.UUID) -> None:
        self._open[run_id] = time.perf_counter()

    def model_ended(self, run_id: uuid.UUID) -> None:
        start = self._open.pop(run_id, None)
        if start is not None:
            self.model += time.perf_counter() - start
            self.model_calls += 1


def model_timer(clock: Clock):
    """A callback handler that times each chat-model call from its start to its end (or error)."""
    from langchain_core.callbacks import BaseCallbackHandler

    class Timer(BaseCallbackHandler):
        def on_chat_model_start(self, serialized, messages, *, run_id, **kwargs: Any) -> None:
            clock.model_started(run_id)

        def on_llm_end(self, response, *, run_id, **kwargs: Any) -> None:
            clock.model_ended(run_id)

        def on_llm_error(self, error, *, run_id, **kwargs: Any) -> None:
            clock.model_ended(run_id)

    return Timer()


def time_sandbox(clock: Clock) -> None:
    """Wrap sandbox.jobs.check/run (the nodes import them at call time, so the wrappers are what they get)."""
    import mdbot.sandbox.jobs as jobs

    real_check, real_run = jobs.check, jobs.run

    def check(*args: Any, **kwargs: Any):
        start = time.perf_counter()
        try:
            return real_check(*args, **kwargs)
        finally:
            clock.check += time.perf_counter() - start

    def run(*args: Any, **kwargs: Any):
        start = time.perf_counter()
        result = None
        try:
            result = real_run(*args, **kwargs)
            return result
        finally:
            clock.run_call += time.perf_counter() - start
            clock.run_wall += result.wall_s if result is not None else 0.0

    jobs.check, jobs.run = check, run


def fake_models(scripts: list[str], callbacks: list) -> dict[str, Any]:
    """One fake model per role; each turn uses its whole list once, so they cycle turn after turn."""
    from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
    from langchain_core.messages import AIMessage

    from tests.graph.openai_server import DEFAULT_JUDGE

    def fake(replies: list[str]):
        return FakeMessagesListChatModel(responses=[AIMessage(r) for r in replies], callbacks=callbacks)

    return {
        "instruct": fake([json.dumps({"intent": "generate", "reason": "benchmark"})]),
        "code": fake([f"```lammps\n{s}```" for s in scripts]),
        "judge": fake([json.dumps(DEFAULT_JUDGE)]),
    }


def http_models(base_url: str, callbacks: list) -> dict[str, Any]:
    """``ChatOpenAI`` per role built by graph.models from MDBOT_LLM_* settings, as the service does."""
    from mdbot.graph.models import chat_model

    os.environ.update(
        {
            "MDBOT_LLM_INSTRUCT_BASE_URL": base_url,
            "MDBOT_LLM_INSTRUCT_MODEL": "md-instruct",
            "MDBOT_LLM_INSTRUCT_API_KEY": "bench",
            "MDBOT_LLM_CODE_BASE_URL": base_url,
            "MDBOT_LLM_CODE_MODEL": "md-code",
        }
    )
    models = {role: chat_model(role) for role in ("instruct", "code", "judge")}
    for m in models.values():
        m.callbacks = callbacks
    return models


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (with 5 repeats, p95 is the worst)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def measure(
    brain, clock: Clock, scenario: tuple[list[str], int], use: Callable[[list[str]], None], repeat: int
) -> dict[str, Any]:
    scripts, attempts = scenario
    rows: list[dict[str, float]] = []
    extra: dict[str, list[float]] = {"model": [], "total": [], "attempts": [], "calls": []}
    for _ in range(repeat):
        use(scripts)
        clock.reset()
        start = time.perf_counter()
        turn = brain.ask(TASK)
        total = time.perf_counter() - start
        if turn.outcome != "success" or len(turn.attempts) != attempts:
            raise SystemExit(
                f"unexpected turn: outcome {turn.outcome}, attempts {turn.attempts}\n{turn.answer}"
            )
        n = len(turn.attempts)
        outside = total - clock.model
        rest = outside - clock.check - clock.run_call
        rows.append(
            {
                "check": clock.check / n,
                "run": clock.run_wall / n,
                "run extras": (clock.run_call - clock.run_wall) / n,
                "critique+graph": rest / n,
                "outside model": outside / n,
            }
        )
        extra["model"].append(clock.model)
        extra["total"].append(total)
        extra["attempts"].append(n)
        extra["calls"].append(clock.model_calls)
    stats = {
        c: {"median": statistics.median(r[c] for r in rows), "p95": pct([r[c] for r in rows], 95)}
        for c in COLUMNS
    }
    return {
        "per_attempt": stats,
        "attempts": extra["attempts"][0],
        "model_calls": extra["calls"][0],
        "turn_total_median": statistics.median(extra["total"]),
        "model_median": statistics.median(extra["model"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="turns per scenario (after one warm-up turn)")
    parser.add_argument(
        "--fake", action="store_true", help="fake chat models instead of the local HTTP server"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--keep", action="store_true", help="keep the data directory (jobs, journal)")
    args = parser.parse_args()

    from mdbot.graph.service import Brain
    from mdbot.graph.settings import GraphSettings
    from mdbot.sandbox.settings import SandboxSettings
    from tests.graph.openai_server import Script, ScriptedOpenAI

    base = ROOT / ".mdbot" if (ROOT / ".mdbot").is_dir() else None
    data = Path(tempfile.mkdtemp(prefix="mdbot-bench-loop-", dir=base))
    clock = Clock()
    callbacks = [model_timer(clock)]
    time_sandbox(clock)
    server = None
    current: dict[str, Script] = {"script": Script()}
    if args.fake:
        models = fake_models([GOOD], callbacks)
    else:
        server = ScriptedOpenAI(lambda body: current["script"](body)).start()
        models = http_models(server.base_url, callbacks)
    brain = Brain(
        GraphSettings(_env_file=None, data_dir=data),
        sandbox=SandboxSettings(_env_file=None, data_dir=data, pictures=True),
        models=models,
        searcher=False,
    )

    def use(scripts: list[str]) -> None:
        if args.fake:
            fresh = fake_models(scripts, callbacks)
            brain.context.instruct, brain.context.code, brain.context.judge = (
                fresh["instruct"],
                fresh["code"],
                fresh["judge"],
            )
        else:
            current["script"] = Script(route="generate", scripts=scripts)

    try:
        measure(
            brain, clock, SCENARIOS["works at once"], use, 1
        )  # warm-up: capabilities cache, imports, matplotlib
        results = {}
        for name, scenario in SCENARIOS.items():
            results[name] = measure(brain, clock, scenario, use, args.repeat)
            print(f"{name}: done", file=sys.stderr)
    finally:
        brain.close()
        if server is not None:
            server.stop()
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)

    models_kind = "fake chat models" if args.fake else "ChatOpenAI → scripted local server"
    worst = max(r["per_attempt"]["outside model"]["p95"] for r in results.values())
    summary = (
        f"outside the model: worst p95 {worst:.2f} s per attempt "
        f"({'within' if worst < TARGET_S else 'OVER'} the {TARGET_S:.0f} s target; {args.repeat} turns per scenario)"
    )
    if args.json:
        print(
            json.dumps(
                {"models": models_kind, "repeat": args.repeat, "scenarios": results, "summary": summary}
            )
        )
        return
    print(f"Per attempt, seconds (median / p95 of {args.repeat} turns); models: {models_kind}")
    width = max(len(n) for n in results) + 2
    head = f"{'scenario':<{width}}{'att':>4}{'calls':>6}" + "".join(f"{c:>17}" for c in COLUMNS)
    print(head)
    print("-" * len(head))
    for name, r in results.items():
        cells = "".join(
            f"{r['per_attempt'][c]['median']:>9.3f} /{r['per_attempt'][c]['p95']:>6.3f}" for c in COLUMNS
        )
        print(f"{name:<{width}}{r['attempts']:>4}{r['model_calls']:>6}{cells}")
    print()
    for name, r in results.items():
        print(
            f"{name}: whole turn {r['turn_total_median']:.2f} s median, "
            f"of which model calls {r['model_median']:.3f} s"
        )
    print(summary)


if __name__ == "__main__":
    main()
