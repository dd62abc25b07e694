"""A physical sanity verdict from the thermo output: the things a careful student checks first.

Decided from the sandbox result alone, no model: non-finite values, lost atoms, energy drift when the
dynamics is NVE, temperature far from a thermostat's target, pressure blow-up. Besides the issues, a
verdict answers "did it work": ``broken`` (a health issue: NaN, lost atoms, blow-up, drift, a temperature
that stays away from its target), ``equilibrating`` (the temperature, or an NPT volume, is still moving
toward where it is going: not a failure, the run is too short), ``equilibrated`` (mean and fluctuation over
the last part of the run fit the target), ``ran`` (nothing to judge it by: no thermo, a minimization).
``thermo_summary`` says the same in numbers for the reply.
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


LATE = 0.5  # the last part of a run that the verdict reads (its mean, fluctuation and trend)
SETTLED = 0.1  # relative distance of the late mean from the target that counts as there


@dataclass
class Health:
    ok: bool = True
    issues: list[str] = field(default_factory=list)
    verdict: str = "ran"  # broken | equilibrating | equilibrated | ran
    reason: str = ""  # the verdict in one sentence

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
    if finished:
        _equilibration(health, finished[-1], cmds)
    if not health.ok:
        health.verdict = "broken"
        health.reason = "; ".join(health.issues)
    return health


def trend(values: list[float]) -> tuple[float, float, float]:
    """(mean, standard deviation, change over the window by a least-squares line) of a series."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / n)
    xm = (n - 1) / 2
    sxx = sum((i - xm) ** 2 for i in range(n)) or 1.0
    slope = sum((i - xm) * (v - mean) for i, v in enumerate(values)) / sxx
    return mean, std, slope * (n - 1)


def _box_changes(cmds: list[Command]) -> bool:
    return any(c.name == "fix" and len(c.words) > 3 and re.match(r"(npt|nph|press/)", c.words[3]) for c in cmds)


DEFAULT_DT = {"lj": 0.005, "real": 1.0, "metal": 0.001, "si": 1e-8, "cgs": 1e-8, "electron": 0.001,
              "micro": 2.0, "nano": 0.00045}  # fmt: skip
SLOWEST_DAMP = 1000  # timesteps: a thermostat damped more slowly barely acts (the rubric's range, §8)
RELAX = 10  # thermostat damping times a run needs before its temperature can be called settled


def thermostat_damp(cmds: list[Command]) -> float | None:
    """Damping time of the last thermostat fix (Tdamp; langevin's damp), when it can be read statically."""
    variables = _variables(cmds)
    damp = None
    for c in cmds:
        w = c.words
        if c.name != "fix" or len(w) < 4 or not THERMOSTATS.match(w[3]):
            continue
        if "temp" in w[4:] and len(w) > w.index("temp", 4) + 3:
            damp = _resolve(w[w.index("temp", 4) + 3], variables) or damp
        elif w[3] in ("langevin", "temp/berendsen", "temp/csvr", "temp/csld") and len(w) > 6:
            damp = _resolve(w[6], variables) or damp
    return damp


def _timestep(cmds: list[Command]) -> float | None:
    units = next((c.words[1] for c in cmds if c.name == "units" and len(c.words) > 1), "lj")
    dt = next((_resolve(c.words[1], _variables(cmds)) for c in cmds if c.name == "timestep" and len(c.words) > 1), None)
    return dt or DEFAULT_DT.get(units)


def _run_time(table: ThermoTable, cmds: list[Command]) -> float | None:
    steps, dt = table.column("Step"), _timestep(cmds)
    return (steps[-1] - steps[0]) * dt if len(steps) >= 2 and dt else None


def _significant(values: list[float]) -> float:
    """The trend's t statistic: the least-squares slope over its standard error (0 for a flat series)."""
    n = len(values)
    mean, _std, change = trend(values)
    xm = (n - 1) / 2
    sxx = sum((i - xm) ** 2 for i in range(n)) or 1.0
    slope = change / max(n - 1, 1)
    resid = [v - (mean + slope * (i - xm)) for i, v in enumerate(values)]
    se = math.sqrt(sum(r * r for r in resid) / max(n - 2, 1) / sxx)
    return slope / se if se > 0 else (0.0 if slope == 0 else math.copysign(math.inf, slope))


def _equilibration(health: Health, table: ThermoTable, cmds: list[Command]) -> None:
    """The verdict from the last run's temperature (and volume under a barostat): settled, still on its
    way to the target (equilibrating: the trend moves toward it, or the run is shorter than ~10 thermostat
    damping times), or far from the target and not on its way (an issue)."""
    target = thermostat_target(cmds)
    temps = [t for t in _late(table.column("Temp"), LATE) if math.isfinite(t)]
    if len(temps) < 3:
        return
    mean, std, change = trend(temps)
    t_stat = _significant(temps)
    if target:
        gap = target - mean
        damp, run_time = thermostat_damp(cmds), _run_time(table, cmds)
        short = bool(damp and run_time is not None and run_time < RELAX * damp)
        toward = t_stat * gap > 0 and abs(t_stat) > 2
        far = abs(gap) / abs(target) > TEMP_TOLERANCE
        dt = _timestep(cmds)
        sluggish = bool(damp and dt and damp > SLOWEST_DAMP * dt)
        if far and not (short or toward):
            health.add(f"temperature {mean:.4g} far from the thermostat target {target:g}")
            return
        if far and sluggish and not toward:
            health.add(
                f"temperature {mean:.4g} far from the thermostat target {target:g}: its damping time "
                f"{damp:g} is over {SLOWEST_DAMP} timesteps, so the thermostat barely acts"
            )
            return
        if far or abs(gap) > max(SETTLED * abs(target), 2 * std) or toward:
            why = (
                f"the run lasted {run_time:.3g} time units, under {RELAX} thermostat damping times ({damp:g})"
                if short
                else "the temperature still moves toward it"
            )
            health.verdict = "equilibrating"
            health.reason = (
                f"not equilibrated yet: the temperature is {mean:.4g} over the last half against the target "
                f"{target:g} ({why}); run longer before measuring"
            )
            return
    elif abs(t_stat) > 2 and abs(change) > 0.05 * max(abs(mean), 1e-12):
        health.verdict = "equilibrating"
        health.reason = f"not equilibrated yet: the temperature still drifts ({change:+.3g} over the last half)"
        return
    volume = [v for v in _late(table.column("Volume"), LATE) if math.isfinite(v)] if _box_changes(cmds) else []
    if len(volume) >= 3:
        vmean, _vstd, vchange = trend(volume)
        if abs(_significant(volume)) > 2 and abs(vchange) > 0.01 * abs(vmean):
            health.verdict = "equilibrating"
            health.reason = f"not equilibrated yet: the volume still changes ({vchange:+.3g} over the last half)"
            return
    health.verdict = "equilibrated"
    against = f" (target {target:g})" if target else ""
    health.reason = f"equilibrated: temperature {mean:.4g} ± {std:.2g} over the last half{against}"


def thermo_summary(columns: list[str], rows: list[list[float | None]], limit: int = 4) -> list[str]:
    """A few lines a reader checks: first → last value, and the late mean ± fluctuation, per quantity."""
    out = []
    wanted = [c for c in ("Temp", "Press", "PotEng", "TotEng", "Volume", "Density") if c in columns]
    for name in wanted[:limit]:
        i = columns.index(name)
        values = [r[i] for r in rows if r[i] is not None and math.isfinite(r[i])]
        if len(values) < 2:
            continue
        late = _late(values, LATE)
        mean, std, _change = trend(late) if len(late) >= 2 else (late[0], 0.0, 0.0)
        out.append(f"{name} {values[0]:.4g} → {values[-1]:.4g} (last half: {mean:.4g} ± {std:.2g})")
    return out
