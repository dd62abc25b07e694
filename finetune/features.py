"""What a LAMMPS input sets up, read by rules, and what a task text asks for — no model, no LAMMPS run.

Two uses share these rules, so they cannot drift apart:

- the corpus importer (``finetune.corpus``) describes a script that has no README or header comment
  (``describe``) and states each task's checkable requirements in words (``requirements``);
- ``mdbot eval code`` checks task fidelity without a judge (``evals.fidelity``): the units, potential style
  and elements, ensemble and temperature a task asks for (``asked``) against what the script does
  (``features``), so a model that learned to print one generic script that runs whatever the task gains
  ExecSucc but not fidelity.

The round trip is the contract: ``asked(requirements(features(s)))`` is satisfied by ``s`` itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mdbot.sandbox.potentials import ELEMENTS, pair_coeff_elements, referenced_files
from mdbot.sandbox.script import commands

UNITS = ("lj", "real", "metal", "si", "cgs", "electron", "micro", "nano")
THERMOSTATS = ("langevin", "temp/berendsen", "temp/rescale", "temp/csvr", "temp/csld", "gld", "gle")
# Potential families a task names in prose, and the pair styles (prefixes) that do it.
FAMILIES: dict[str, tuple[str, ...]] = {
    "lennard-jones": ("lj/",),
    "eam": ("eam",),
    "meam": ("meam",),
    "tersoff": ("tersoff",),
    "stillinger-weber": ("sw",),
    "reaxff": ("reaxff", "reax/"),
    "airebo": ("airebo", "rebo"),
    "comb": ("comb",),
    "morse": ("morse",),
    "buckingham": ("buck",),
    "snap": ("snap",),
    "coulomb": ("coul/",),
}
_FAMILY_WORDS = {
    "lennard-jones": r"lennard[- ]jones|\blj (?:fluid|liquid|potential|particles|atoms|system|crystal|solid)",
    "eam": r"\beam\b|embedded[- ]atom",
    "meam": r"\bmeam\b|modified embedded[- ]atom",
    "tersoff": r"\btersoff\b",
    "stillinger-weber": r"stillinger[- ]weber",
    "reaxff": r"\breax(?:ff)?\b",
    "airebo": r"\bairebo\b|\brebo\b",
    "comb": r"\bcomb3?\b",
    "morse": r"\bmorse\b",
    "buckingham": r"\bbuckingham\b",
    "snap": r"\bsnap\b",
}
# Two-letter symbols that are also everyday words at the start of a sentence or in prose
_AMBIGUOUS = {"In", "As", "At", "Be", "He", "No", "Am", "Md", "Es", "Pa", "Ho"}
_STYLE = re.compile(r"^[a-z][a-z0-9]*(?:/[a-z0-9.]+)*$")
_VAR = re.compile(r"^\$\{?(\w+)\}?$|^v_(\w+)$")


@dataclass
class ScriptFeatures:
    units: str = "lj"  # LAMMPS's default when a script sets none
    atom_style: str | None = None
    dimension: int = 3
    pair_styles: list[str] = field(default_factory=list)
    elements: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    computes: list[str] = field(default_factory=list)
    temperatures: list[float] = field(default_factory=list)  # thermostat targets and velocity create
    run_steps: int = 0
    minimize: bool = False
    reads: list[str] = field(default_factory=list)  # read_data / read_restart files

    @property
    def ensembles(self) -> list[str]:
        """NVE / NVT / NPT / NPH as the fixes make them (fix nve + a Langevin thermostat is NVT)."""
        found: set[str] = set()
        thermostat = any(f.startswith(THERMOSTATS) for f in self.fixes)
        for f in self.fixes:
            base = f.split("/")[0]
            if f.startswith("rigid/"):
                base = f.split("/")[1] if "/" in f else "nve"
            if base in ("nvt", "npt", "nph", "nve"):
                found.add(base.upper())
            if "/nvt" in f:
                found.add("NVT")
        if thermostat and "NVE" in found:
            found.add("NVT")
        if thermostat and "NPH" in found:
            found.add("NPT")
        return sorted(found)


def _number(word: str, variables: dict[str, str]) -> float | None:
    m = _VAR.match(word)
    if m:
        word = variables.get(m.group(1) or m.group(2), "")
    try:
        return float(word)
    except ValueError:
        return None


def features(script: str) -> ScriptFeatures:
    """The setup of ``script`` (its own text; included files are not followed)."""
    f = ScriptFeatures()
    variables: dict[str, str] = {}
    for c in commands(script):
        w, name = c.words, c.name
        if name == "variable" and len(w) > 3 and w[2] in ("equal", "index", "string", "loop"):
            variables.setdefault(w[1], w[3])
        elif name == "units" and len(w) > 1:
            f.units = w[1].lower()
        elif name == "atom_style" and len(w) > 1:
            f.atom_style = w[1]
        elif name == "dimension" and len(w) > 1 and w[1] in ("2", "3"):
            f.dimension = int(w[1])
        elif name == "pair_style" and len(w) > 1:
            # hybrid: the sub-styles among the arguments (numbers are their cutoffs)
            styles = [x for x in w[2:] if _STYLE.match(x)] if w[1].startswith("hybrid") else [w[1]]
            f.pair_styles += [s for s in styles if s not in f.pair_styles]
        elif name == "pair_coeff":
            for _cmd, fname in referenced_files([c]):
                # the elements listed after the file (``* * CuNi.eam.alloy Cu Ni``), else those its name
                # spells (``1 1 Cu_u3.eam``)
                named = pair_coeff_elements(c, fname) or [
                    p for p in re.split(r"[_.\-]", fname.rsplit("/", 1)[-1]) if p in ELEMENTS and len(p) == 2
                ]
                f.elements += [el for el in named if el not in f.elements]
        elif name == "fix" and len(w) > 3:
            style = w[3]
            f.fixes.append(style)
            temp = _thermostat_target(style, w, variables)
            f.temperatures += [t for t in dict.fromkeys(temp) if t not in f.temperatures]
        elif name == "compute" and len(w) > 3:
            f.computes.append(w[3])
        elif name == "velocity" and len(w) > 3 and w[2] == "create":
            t = _number(w[3], variables)
            if t is not None and t not in f.temperatures:
                f.temperatures.append(t)
        elif name == "run" and len(w) > 1:
            n = _number(w[1], variables)
            f.run_steps += int(n) if n is not None else 0
        elif name == "minimize":
            f.minimize = True
        elif name in ("read_data", "read_restart") and len(w) > 1:
            f.reads.append(w[1])
    return f


def _is_num(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _thermostat_target(style: str, w: list[str], variables: dict[str, str]) -> list[float]:
    """Tstart and Tstop of a thermostat fix: ``temp T0 T1 damp`` (Nosé-Hoover) or ``T0 T1`` right after
    the style (Langevin, Berendsen, rescale, CSVR)."""
    words = w[4:]
    if style.split("/")[0] in ("nvt", "npt", "nph", "rigid") or "/nvt" in style or "/npt" in style:
        if "temp" not in words:
            return []
        i = words.index("temp")
        values = [_number(x, variables) for x in words[i + 1 : i + 3]]
    elif style.startswith(("langevin", "temp/")):
        start = 1 if style == "temp/rescale" else 0  # fix temp/rescale N Tstart Tstop window fraction
        values = [_number(x, variables) for x in words[start : start + 2]]
    else:
        return []
    return [v for v in values if v is not None]


def family_of(pair_style: str) -> str | None:
    for family, prefixes in FAMILIES.items():
        if pair_style.startswith(prefixes):
            return family
    return None


def _temperature_words(f: ScriptFeatures) -> str:
    unit = " K" if f.units in ("metal", "real", "si", "cgs", "electron", "micro", "nano") else ""
    targets = f.temperatures[:2]
    if not targets:
        return ""
    if unit:
        return " to ".join(f"{_fmt(t)}{unit}" for t in targets)
    return "T = " + " to ".join(_fmt(t) for t in targets)


def _fmt(x: float) -> str:
    return f"{x:g}"


def requirements(f: ScriptFeatures) -> str:
    """The checkable setup in words a task can carry (and ``asked`` reads back)."""
    parts = [f"units {f.units}"]
    if f.atom_style:
        parts.append(f"atom_style {f.atom_style}")
    if f.dimension == 2:
        parts.append("2d")
    if f.pair_styles:
        parts.append("pair_style " + ", ".join(f.pair_styles))
    if f.elements:
        parts.append("elements " + " ".join(f.elements))
    if f.ensembles:
        parts.append(" and ".join(f.ensembles) + " ensemble")
    temp = _temperature_words(f)
    if temp:
        parts.append(f"temperature {temp}")
    return "; ".join(parts)


def describe(f: ScriptFeatures) -> str:
    """A one-sentence task for a script with no README or header comment (the corpus importer's rule)."""
    what = []
    computed = sorted({c for c in f.computes if c in ("rdf", "msd", "vacf", "stress/atom", "pe/atom", "cna/atom",
                                                        "centro/atom", "heat/flux", "temp", "pressure")})  # fmt: skip
    if f.minimize:
        what.append("an energy minimization")
    if f.run_steps:
        what.append(f"{f.run_steps} MD steps")
    action = " and ".join(what) or "a setup"
    text = f"LAMMPS input running {action} ({requirements(f)})"
    if computed:
        text += "; computes " + ", ".join(computed)
    return text + "."


# ------------------------------------------------------------------------------------------ the ask
_UNITS_RE = re.compile(rf"\bunits\s+({'|'.join(UNITS)})\b|\b({'|'.join(UNITS)})\s+units\b", re.I)
_PAIR_RE = re.compile(r"\bpair[_ ]style\s+([A-Za-z0-9/._+-]+(?:\s*,\s*[A-Za-z0-9/._+-]+)*)")
_ENSEMBLE_RE = re.compile(r"\b(NVT|NPT|NVE|NPH)\b", re.I)
_KELVIN_RE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*K\b")
_REDUCED_T_RE = re.compile(r"\bT\*?\s*=\s*(\d+(?:\.\d+)?)(?:\s*to\s*(\d+(?:\.\d+)?))?")
_ELEMENTS_RE = re.compile(r"\belements?\s+((?:[A-Z][a-z]?\b[\s,]*(?:and\s+)?)+)")
_SYMBOL_RE = re.compile(r"(?<![A-Za-z])([A-Z][a-z]?)(?![A-Za-z])")


@dataclass
class Ask:
    """What a task text asks for that a script can be checked against; None/empty = not asked."""

    units: str | None = None
    pair_styles: list[str] = field(default_factory=list)  # exact styles named
    families: list[str] = field(default_factory=list)  # potentials named in prose
    elements: list[str] = field(default_factory=list)
    ensembles: list[str] = field(default_factory=list)
    temperatures: list[float] = field(default_factory=list)


def asked(task: str) -> Ask:
    a = Ask()
    m = _UNITS_RE.search(task)
    if m:
        a.units = (m.group(1) or m.group(2)).lower()
    elif re.search(r"\breduced units\b|\blennard[- ]jones units\b", task, re.I):
        a.units = "lj"
    for m in _PAIR_RE.finditer(task):
        a.pair_styles += [
            s.strip() for s in m.group(1).split(",") if s.strip() and s.strip() not in a.pair_styles
        ]
    if not a.pair_styles:
        a.families = [fam for fam, pat in _FAMILY_WORDS.items() if re.search(pat, task, re.I)]
    a.ensembles = sorted({e.upper() for e in _ENSEMBLE_RE.findall(task)})
    temps = [float(x) for x in _KELVIN_RE.findall(task)]
    for m in _REDUCED_T_RE.finditer(task):
        temps += [float(x) for x in m.groups() if x]
    a.temperatures = list(dict.fromkeys(temps))
    m = _ELEMENTS_RE.search(task)
    if m:
        a.elements = [s for s in _SYMBOL_RE.findall(m.group(1)) if s in ELEMENTS]
    else:
        two = [s for s in _SYMBOL_RE.findall(task) if len(s) == 2 and s in ELEMENTS and s not in _AMBIGUOUS]
        a.elements = list(dict.fromkeys(two))
    return a


def fidelity(task: str, script: str | None) -> dict:
    """Each rule the task asks for, passed or not, and the fraction passed (None when it asks for none)."""
    a = asked(task)
    f = features(script) if script else None
    checks: dict[str, bool] = {}
    if a.units:
        checks["units"] = f is not None and f.units == a.units
    if a.pair_styles:
        checks["pair_style"] = f is not None and all(s in f.pair_styles for s in a.pair_styles)
    elif a.families:
        fams = {family_of(s) for s in f.pair_styles} if f else set()
        checks["potential"] = all(fam in fams for fam in a.families)
    if a.elements:
        checks["elements"] = f is not None and set(a.elements) <= set(f.elements)
    if a.ensembles:
        checks["ensemble"] = f is not None and set(a.ensembles) <= set(f.ensembles)
    if a.temperatures:
        have = f.temperatures if f else []
        checks["temperature"] = all(
            any(abs(t - h) <= 0.01 * max(abs(t), 1e-9) for h in have) for t in a.temperatures
        )
    score = round(sum(checks.values()) / len(checks), 4) if checks else None
    return {"fidelity": score, "checks": checks}
