"""What a cluster job's directory says: progress while it runs, and at the end the same result document as a
sandbox run (status, diagnosed error, thermo, health, pictures, final step, performance).

The end result goes through the sandbox's own assembly (:func:`mdbot.sandbox.assemble.assemble`) with
Slurm's verdict standing in for the sandbox's process record: a job Slurm calls COMPLETED whose log holds a
LAMMPS error is an ``error``, as in the sandbox.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mdbot.sandbox.logparse import ParsedLog, parse_text, read_log
from mdbot.sandbox.script import Command, commands

from .template import EXIT_FILE, LOG, TERMINATED

if TYPE_CHECKING:
    from mdbot.sandbox.result import RunResult
    from mdbot.sandbox.settings import SandboxSettings

# Default timestep of each units style, and how many nanoseconds one time unit is (None: reduced units).
_DT = {"lj": 0.005, "real": 1.0, "metal": 0.001, "si": 1e-8, "cgs": 1e-8, "electron": 0.001, "micro": 2.0,
       "nano": 0.00045}  # fmt: skip
_NS = {
    "lj": None,
    "real": 1e-6,
    "metal": 1e-3,
    "si": 1e9,
    "cgs": 1e9,
    "electron": 1e-6,
    "micro": 1e3,
    "nano": 1.0,
}


@dataclass(frozen=True)
class EndState:
    """How Slurm (or, without accounting, the job itself) says the job ended."""

    state: str  # COMPLETED, FAILED, TIMEOUT, CANCELLED, NODE_FAIL, OUT_OF_MEMORY, …
    exit_code: int | None = None
    source: str = "squeue"  # squeue | sacct | exit-file
    elapsed_s: int | None = None


def read_exit_file(text: str | None) -> int | str | None:
    """The exit status the batch script wrote, ``"terminated"`` when Slurm signalled it, None when absent."""
    if text is None or not text.strip():
        return None
    word = text.strip().split()[0]
    if word == TERMINATED:
        return TERMINATED
    return int(word) if word.lstrip("-").isdigit() else None


def units_and_dt(cmds: list[Command]) -> tuple[str, float]:
    units = next((c.words[1] for c in cmds if c.name == "units" and len(c.words) > 1), "lj")
    dt = _DT.get(units, 1.0)
    for c in cmds:
        if c.name == "timestep" and len(c.words) > 1:
            try:
                dt = float(c.words[1])
            except ValueError:
                pass
    return units, dt


def speed(steps_per_s: float, cmds: list[Command]) -> str:
    """ns/day (or tau/day in reduced units) at a step rate."""
    units, dt = units_and_dt(cmds)
    per_day = steps_per_s * dt * 86400
    ns = _NS.get(units)
    if ns is None:
        return f"{per_day:.4g} tau/day"
    return f"{per_day * ns:.4g} ns/day"


@dataclass
class Progress:
    step: int | None
    total: int | None
    row: dict[str, float]

    def line(self) -> str:
        bits = []
        if self.step is not None:
            of = f" of {self.total:,}" if self.total else ""
            pct = f" ({100 * self.step / self.total:.0f} %)" if self.total else ""
            bits.append(f"step {self.step:,}{of}{pct}")
        shown = [f"{k} {v:.5g}" for k, v in self.row.items() if k != "Step" and math.isfinite(v)][:4]
        if shown:
            bits.append(", ".join(shown))
        return " · ".join(bits)


def progress(log_text: str, total: int | None) -> Progress | None:
    """The last thermo line of a running job's log, None before the first one."""
    parsed = parse_text(log_text)
    for table in reversed(parsed.tables):
        if table.rows:
            row = dict(zip(table.columns, table.rows[-1], strict=False))
            step = row.get("Step")
            return Progress(int(step) if step is not None and math.isfinite(step) else None, total, row)
    return None


def final_result(
    local_dir: Path,
    script_name: str,
    script_text: str,
    end: EndState,
    settings: SandboxSettings,
    *,
    pictures: bool = True,
    console: str = "",
) -> RunResult:
    """The result document of a finished job, from its directory (never raises)."""
    from mdbot.sandbox.assemble import JobView, assemble
    from mdbot.sandbox.install import capabilities
    from mdbot.sandbox.isolation import Execution
    from mdbot.sandbox.potentials import library_for
    from mdbot.sandbox.script import script_sources

    log_path = local_dir / LOG
    log_text = read_log(log_path) if log_path.is_file() else ""
    parsed: ParsedLog = parse_text(log_text)
    cmds = commands(script_text)

    def caps():
        try:
            return capabilities(settings.data_dir / "cache")
        except Exception:  # noqa: BLE001 - hints are a nicety, as in the sandbox
            return None

    view = JobView(
        script_name,
        local_dir,
        functools.partial(script_sources, script_name, script_text, local_dir),
        cmds,
        library_for(settings),
        caps,
        [],
    )
    ex = _execution(end, Execution)
    result = assemble(view, ex, parsed, lambda: log_text[-64 * 1024 :] or console, pictures_ok=pictures)
    if result.status == "timeout" and result.error is not None:
        result.error.hint = "The job reached its Slurm time limit: continue it from its last restart file, or ask for more time."
    return result


def _execution(end: EndState, execution_type):
    wall = float(end.elapsed_s or 0)
    if end.state == "COMPLETED":
        return execution_type(returncode=end.exit_code or 0, wall_s=wall, status="exited")
    if end.state == "FAILED":
        return execution_type(
            returncode=end.exit_code if end.exit_code is not None else 1, wall_s=wall, status="exited"
        )
    if end.state == "TIMEOUT":
        return execution_type(
            returncode=None, wall_s=wall, status="timeout", reason="the job reached its Slurm time limit"
        )
    if end.state == "CANCELLED":
        return execution_type(returncode=None, wall_s=wall, status="killed", reason="the job was cancelled")
    if end.state == "OUT_OF_MEMORY":
        return execution_type(
            returncode=None, wall_s=wall, status="error", reason="the job ran out of memory"
        )
    return execution_type(
        returncode=end.exit_code, wall_s=wall, status="error", reason=f"Slurm ended the job: {end.state}"
    )


def exit_file_path(local_dir: Path) -> Path:
    return local_dir / EXIT_FILE
