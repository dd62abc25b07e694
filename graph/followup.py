"""Follow-ups without a model: the common edits of the thread's latest script, applied by rules.

"now run it at T=2.0 for 2000 steps", "make it 500 K", "1 atm", "timestep 0.002", "thermo every 100",
"dump every 500", "a box of 8x8x8": each is applied to every place of the script that needs it — the
temperature to ``velocity … create`` and to every thermostat's targets, the pressure to the barostat's,
the steps to the last ``run``, the box to the ``region`` that ``create_box`` uses — and when a value is
given through a variable (``${T}``, ``v_T``), to the variable's definition. What a request asks beyond these
returns None: the caller says that it needs a model. The result says what changed and shows it as a diff.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from mdbot.sandbox.health import THERMOSTATS
from mdbot.sandbox.script import Command, commands

NUMBER = r"([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
TEMPERATURE = [
    re.compile(rf"\bT\*?\s*[=:]\s*{NUMBER}"),
    re.compile(rf"\btemperature\s*(?:of|to|at|=|:)?\s*{NUMBER}", re.I),
    re.compile(rf"\b{NUMBER}\s*K\b"),
]
PRESSURE = [
    re.compile(rf"\bP\*?\s*[=:]\s*{NUMBER}"),
    re.compile(rf"\bpressure\s*(?:of|to|at|=|:)?\s*{NUMBER}", re.I),
    re.compile(rf"\b{NUMBER}\s*(?:bar|atm|atmospheres?)\b", re.I),
]
STEPS = [
    re.compile(r"\b(\d[\d,_]*)\s*(?:time)?steps\b", re.I),
    re.compile(r"\brun\s+(?:it\s+)?(?:for\s+)?(\d[\d,_]*)\b", re.I),
]
TIMESTEP = re.compile(rf"\b(?:timestep|time step|dt)\s*(?:of|to|=|:)?\s*{NUMBER}", re.I)
THERMO = re.compile(r"\bthermo(?:\s+output)?\s*(?:every|each|frequency(?:\s+(?:of|to))?|=)?\s*(\d+)", re.I)
DUMP = re.compile(r"\bdumps?\s*(?:every|each|frequency(?:\s+(?:of|to))?|=)\s*(\d+)", re.I)
BOX = re.compile(r"\bbox(?:\s+size)?\s*(?:of|to|=|:)?\s*(\d+(?:\.\d+)?)(?:\s*[x×]\s*(\d+(?:\.\d+)?)\s*[x×]\s*(\d+(?:\.\d+)?))?", re.I)
_VAR = re.compile(r"^\$\{(\w+)\}$|^\$(\w)$|^v_(\w+)$")
WHAT = "temperature, pressure, number of steps, timestep, thermo or dump frequency, box size"


@dataclass
class Edit:
    script: str
    changes: list[str] = field(default_factory=list)
    diff: str = ""


def _first(patterns: list[re.Pattern[str]], text: str) -> str | None:
    for p in patterns:
        m = p.search(text)
        if m:
            return m.group(1)
    return None


def requested(text: str) -> dict[str, object]:
    """The edits a message asks for: {"temperature": "2.0", "steps": 2000, "box": ("8","8","8"), …}."""
    out: dict[str, object] = {}
    t = _first(TEMPERATURE, text)
    if t is not None:
        out["temperature"] = t
    p = _first(PRESSURE, text)
    if p is not None:
        out["pressure"] = p
    m = TIMESTEP.search(text)
    if m:
        out["timestep"] = m.group(1)
    m = THERMO.search(text)
    if m:
        out["thermo"] = m.group(1)
    m = DUMP.search(text)
    if m:
        out["dump"] = m.group(1)
    m = BOX.search(text)
    if m:
        out["box"] = (m.group(1), m.group(2) or m.group(1), m.group(3) or m.group(1))
    steps = _first(STEPS, re.sub(r"\bthermo\b.*?\d+|\bdumps?\b.*?\d+", "", text, flags=re.I))
    if steps is not None:
        out["steps"] = steps.replace(",", "").replace("_", "")
    return out


class _Editor:
    """Word replacements on a script's lines, through variables where a value is one."""

    def __init__(self, script: str):
        self.lines = script.splitlines()
        self.cmds = commands(script)
        self.changes: list[str] = []
        self.inserts: list[tuple[int, str]] = []
        self.variables = {
            c.words[1]: c
            for c in self.cmds
            if c.name == "variable" and len(c.words) >= 4 and c.words[2] in ("equal", "index", "string")
        }

    def set_word(self, cmd: Command, index: int, value: str, what: str) -> None:
        word = cmd.words[index]
        m = _VAR.match(word)
        if m:
            name = next(g for g in m.groups() if g)
            var = self.variables.get(name)
            if var is None or len(var.words) != 4:
                return
            cmd, index, word = var, 3, var.words[3]
            what = f"variable {name} ({what})"
        if word == value or cmd.text.rstrip().endswith("&"):
            return
        line = self.lines[cmd.line - 1]
        # the index-th word of the line, found by position so that equal words elsewhere stay
        spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", line.split("#", 1)[0])]
        if index >= len(spans) or line[spans[index][0] : spans[index][1]] != word:
            return
        a, b = spans[index]
        self.lines[cmd.line - 1] = line[:a] + value + line[b:]
        self.changes.append(f"line {cmd.line}: {what} {word} → {value}")

    def insert_before_run(self, text: str, what: str) -> None:
        """Queued: inserted by ``text()`` after all replacements, so that every line number said is the
        line of the script as it was."""
        run = next((c for c in self.cmds if c.name in ("run", "minimize")), None)
        at = run.line - 1 if run else len(self.lines)
        self.inserts.append((at, text))
        self.changes.append(f"added `{text}` before line {at + 1} ({what})")

    def text(self) -> str:
        lines = list(self.lines)
        for at, text in sorted(self.inserts, reverse=True):
            lines.insert(at, text)
        return "\n".join(lines) + "\n"


def _temperature(ed: _Editor, value: str) -> None:
    for c in ed.cmds:
        w = c.words
        if c.name == "velocity" and len(w) > 3 and w[2] == "create":
            ed.set_word(c, 3, value, "velocity create temperature")
        if c.name != "fix" or len(w) < 4 or not THERMOSTATS.match(w[3]):
            continue
        style = w[3]
        if "temp" in w[4:] and style != "temp/rescale":
            i = w.index("temp", 4)
            for k in (i + 1, i + 2):
                if k < len(w):
                    ed.set_word(c, k, value, f"fix {style} target")
        elif style in ("langevin", "temp/berendsen", "temp/csvr", "temp/csld") and len(w) > 5:
            for k in (4, 5):
                ed.set_word(c, k, value, f"fix {style} target")
        elif style == "temp/rescale" and len(w) > 6:
            for k in (5, 6):
                ed.set_word(c, k, value, f"fix {style} target")


def _pressure(ed: _Editor, value: str) -> bool:
    done = False
    for c in ed.cmds:
        w = c.words
        if c.name != "fix" or len(w) < 5 or not re.match(r"(npt|nph|press/berendsen|.*/npt|.*/nph)", w[3]):
            continue
        for key in ("iso", "aniso", "tri"):
            if key in w[4:]:
                i = w.index(key, 4)
                for k in (i + 1, i + 2):
                    if k < len(w):
                        ed.set_word(c, k, value, f"fix {w[3]} {key} pressure")
                        done = True
    return done


def _steps(ed: _Editor, value: str) -> bool:
    runs = [c for c in ed.cmds if c.name == "run" and len(c.words) > 1]
    if not runs:
        return False
    ed.set_word(runs[-1], 1, value, "run steps" + (" (the last run)" if len(runs) > 1 else ""))
    return True


def _every(ed: _Editor, name: str, value: str) -> bool:
    if name == "thermo":
        found = [c for c in ed.cmds if c.name == "thermo" and len(c.words) > 1]
        for c in found:
            ed.set_word(c, 1, value, "thermo every")
        if not found:
            ed.insert_before_run(f"thermo {value}", "thermo output every N steps")
        return True
    dumps = [c for c in ed.cmds if c.name == "dump" and len(c.words) > 4]
    for c in dumps:
        ed.set_word(c, 4, value, f"dump {c.words[1]} every")
    return bool(dumps)


def _timestep(ed: _Editor, value: str) -> None:
    found = [c for c in ed.cmds if c.name == "timestep" and len(c.words) > 1]
    for c in found:
        ed.set_word(c, 1, value, "timestep")
    if not found:
        ed.insert_before_run(f"timestep {value}", "timestep")


def _box(ed: _Editor, size: tuple[str, str, str]) -> bool:
    box = next((c for c in ed.cmds if c.name == "create_box" and len(c.words) > 2), None)
    region = next((c for c in ed.cmds if box and c.name == "region" and c.words[1:2] == [box.words[2]]), None)
    if region is None or len(region.words) < 9 or region.words[2] != "block":
        return False
    for axis, n in enumerate(size):
        lo = region.words[3 + 2 * axis]
        hi = str(float(lo) + float(n)) if _is_number(lo) else n
        hi = hi[:-2] if hi.endswith(".0") else hi
        ed.set_word(region, 4 + 2 * axis, hi, f"region {region.words[1]} {'xyz'[axis]}hi")
    return True


def _is_number(word: str) -> bool:
    try:
        float(word)
        return True
    except ValueError:
        return False


def edit(script: str, text: str) -> Edit | None:
    """The script with the edits the message asks for; None when it asks for none of them or none of
    them has a place in this script (that needs a model)."""
    wanted = requested(text)
    if not wanted:
        return None
    ed = _Editor(script)
    missing = []
    if "temperature" in wanted:
        _temperature(ed, str(wanted["temperature"]))
    if "pressure" in wanted and not _pressure(ed, str(wanted["pressure"])):
        missing.append("pressure (the script has no barostat: switching to NPT needs a model)")
    if "steps" in wanted and not _steps(ed, str(wanted["steps"])):
        missing.append("steps (the script has no run command)")
    if "timestep" in wanted:
        _timestep(ed, str(wanted["timestep"]))
    if "thermo" in wanted:
        _every(ed, "thermo", str(wanted["thermo"]))
    if "dump" in wanted and not _every(ed, "dump", str(wanted["dump"])):
        missing.append("dump frequency (the script has no dump)")
    if "box" in wanted and not _box(ed, wanted["box"]):  # type: ignore[arg-type]
        missing.append("box size (the box does not come from a region block)")
    new = ed.text()
    if new == script.rstrip("\n") + "\n" and not ed.changes:
        return None
    diff = "".join(
        difflib.unified_diff(
            script.splitlines(keepends=True), new.splitlines(keepends=True), "before", "after", n=0
        )
    )
    changes = list(dict.fromkeys(ed.changes)) + [f"not changed: {m}" for m in missing]
    return Edit(new, changes, diff)
