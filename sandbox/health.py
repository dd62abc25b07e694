"""A physical sanity verdict from the thermo output: the things a careful student checks first.

Decided from the sandbox result alone, no model: non-finite values, lost atoms, energy drift when the
dynamics is NVE, temperature far from a thermostat's target, pressure blow-up.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from .logparse import ParsedLog, ThermoTable
from .script import Command

NVE_DRIFT = 0.02  # relative total-energy change over a run that counts as drift
TEMP_TOLERANCE = 0.25  # relative deviation of the late-run mean temperature from the target
THERMOSTATS = re.compile(
    r"^(nvt|npt|nph|langevin|temp/\S+|nvt/\S+|npt/\S+|rigid/nvt\S*|rigid/npt\S*|gld|gle|"
    r"nvk|ttm\S*|tgnvt/\S+|tgnpt/\S+|ptm/nvt|ptm/npt|.*/nvt|.*/npt)$"
)
# |pressure| beyond which a system has certainly blown up, in the pressure unit of each units style.
PRESSURE_LIMIT = {
    "lj": 1e4,
    "real": 1e8,
    "metal": 1e8,
    "si": 1e13,
    "cgs": 1e14,
    "electron": 1e13,
    "micro": 1e13,
    "nano": 1e13,
}


@dataclass
class Health:
    ok: bool = True
    issues: list[str] = field(default_factory=list)

    def add(self, issue: str) -> None:
        if issue not in self.issues:
            self.issues.append(issue)
        self.ok = False


def _variables(cmds: list[Command]) -> dict[str, str]:
    out = {}
    for c in cmds:
        if c.name == "variable" and len(c.words) >= 4 and c.words[2] in ("equal", "index", "string", "loop"):
            if c.words[2] != "loop":
                out[c.words[1]] = c.words[3]
    return out


def _resolve(word: str, variables: dict[str, str]) -> float | None:
    m = re.fullmatch(r"\$\{(\w+)\}|\$(\w)|v_(\w+)", word)
    if m:
        word = variables.get(next(g for g in m.groups() if g), "")
    try:
        return float(word)
    except ValueError:
        return None


def thermostat_target(cmds: list[Command]) -> float | None:
    """Target temperature of the last thermostat fix in the script, when it can be read statically."""
    variables = _variables(cmds)
    target = None
    for c in cmds:
        if c.name != "fix" or len(c.words) < 4 or not THERMOSTATS.match(c.words[3]):
            continue
        w = c.words
        style = w[3]
        value = None
        if "temp" in w[4:] and style not in ("temp/rescale",):
            i = w.index("temp", 4)
            if len(w) > i + 2:
                value = _resolve(w[i + 2], variables)
        elif style in ("langevin", "temp/berendsen", "temp/csvr", "temp/csld", "gld", "gle") and len(w) > 5:
            value = _resolve(w[5], variables)
        elif style == "temp/rescale" and len(w) > 6:
            value = _resolve(w[6], variables)
        if value is not None:
            target = value
    return target


def ensemble_is_nve(cmds: list[Command]) -> bool:
    styles = [c.words[3] for c in cmds if c.name == "fix" and len(c.words) > 3]
    has_nve = any(s == "nve" or s.startswith("nve/") for s in styles)
    return has_nve and not any(THERMOSTATS.match(s) for s in styles)


def _late(values: list[float], fraction: float = 0.5) -> list[float]:
    return values[int(len(values) * (1 - fraction)) :] if values else []


def _energy(table: ThermoTable) -> list[float]:
    for name in ("TotEng", "Etotal", "etotal"):
        if name in table.columns:
            return table.column(name)
    return []


def assess(log: ParsedLog, cmds: list[Command]) -> Health:
    """The health verdict of a finished (or failed) job."""
    health = Health()
    units = next((c.words[1] for c in cmds if c.name == "units" and len(c.words) > 1), "lj")
    for n, table in enumerate(log.tables, start=1):
        label = f"run {n}" if len(log.tables) > 1 else "the run"
        bad = [c for i, c in enumerate(table.columns) if any(not math.isfinite(r[i]) for r in table.rows)]
        if bad:
            health.add(f"non-finite values (NaN/inf) in {', '.join(bad)} during {label}")
        press = [p for p in table.column("Press") if math.isfinite(p)]
        limit = PRESSURE_LIMIT.get(units, 1e13)
        if press and max(abs(p) for p in press) > limit:
            health.add(f"pressure blew up during {label} (|P| reached {max(abs(p) for p in press):.3g})")
    # Lost atoms: LAMMPS's error or warning, or an atom count that shrinks between runs.
    if log.error and "Lost atoms" in log.error.message:
        health.add("lost atoms: " + log.error.message)
    if any("Lost atoms" in w for w in log.warnings):
        health.add("lost atoms (warned by LAMMPS)")
    counts = [t.atoms for t in log.tables if t.atoms is not None]
    if any(b < a for a, b in zip(counts, counts[1:], strict=False)):
        health.add(f"atom count dropped from {counts[0]} to {counts[-1]}")
    finished = [t for t in log.tables if t.finished and len(t.rows) >= 2]
    if finished and ensemble_is_nve(cmds):
        for table in finished:
            energy = [e for e in _energy(table) if math.isfinite(e)]
            if len(energy) >= 2:
                scale = max(abs(energy[0]), 1e-12)
                drift = abs(energy[-1] - energy[0]) / scale
                if drift > NVE_DRIFT:
                    health.add(f"energy drift {drift:.1%} in NVE")
    target = thermostat_target(cmds)
    if target and finished:
        temps = [t for t in _late(finished[-1].column("Temp")) if math.isfinite(t)]
        if len(temps) >= 3:
            mean = sum(temps) / len(temps)
            if abs(mean - target) / abs(target) > TEMP_TOLERANCE:
                health.add(f"temperature {mean:.4g} far from the thermostat target {target:g}")
    return health
