"""Collections of example inputs as training data: task descriptions paired with the scripts that do them.

Two kinds of folder (``mdbot finetune export --corpus DIR``):

- a **manifest collection** (``DIR/manifest.jsonl``, as ``../shared/corpora/lammps-scripts``): one entry a
  script with its ``description``, ``license``, ``files`` (relative to ``DIR/<id>/``), ``features`` and
  ``dry_run``; the script is ``DIR/<id>/<script_file>``;
- a **lab's own folder** of inputs (``in.*``, ``*.in``, ``*.lmp``, ``*.lammps``, anywhere below it): the
  description comes from a README beside the script, else the script's leading comment, else the rules of
  ``finetune.features`` (units, potential, ensemble, what is computed).

Every task carries the script's checkable requirements in words (``finetune.features.requirements``), so
the model learns to honour them and ``mdbot eval code`` can check fidelity without a judge. Scripts are
deduplicated on their commands (comments and spacing do not count). The held-out split is by **source
directory**: sibling scripts of one example directory share data files and often a description, so they go
to the same side and no test task leaks into training. Anything from MD-EvalBench (or MDAgent's own
release) is refused: it is for evaluation only.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mdbot.sandbox.potentials import referenced_files
from mdbot.sandbox.script import commands

from . import features as feats

SCRIPT_NAME = re.compile(r"^(?:in\..+|.+\.(?:in|lmp|lammps))$")
README_NAMES = ("README.md", "README.txt", "README", "readme.md", "Readme.md")
EVALBENCH = re.compile(r"md[-_ ]?evalbench|pku[-_]mdagent", re.I)
MAX_SCRIPT_BYTES = 200_000
READ_COMMANDS = {"read_data", "read_restart", "read_dump", "include", "molecule"}


class CorpusError(ValueError):
    """A folder that cannot be imported (missing, unreadable manifest, an evaluation set)."""


@dataclass
class Example:
    id: str
    script: str
    description: str
    description_source: str  # readme | header_comment | rules | manifest's own word
    group: str  # the source directory: the unit of the held-out split
    files: dict[str, str] = field(default_factory=dict)  # name -> absolute path, flat in the job directory
    source: str = ""  # the collection and the script's path in it
    license: str = ""
    area: str = "all"
    runnable: bool = True  # self-contained, every file flat, a dry run that passed (when known)
    requirements: str = ""

    @property
    def task(self) -> str:
        """What the model is asked: the description and the setup it must keep."""
        return f"{self.description.strip().rstrip('.')}. Requirements: {self.requirements}."


@dataclass
class CorpusReport:
    root: str
    kind: str  # manifest | folder
    scripts: int = 0
    used: int = 0
    duplicates: int = 0
    excluded_evalbench: int = 0
    unreadable: int = 0
    descriptions: Counter = field(default_factory=Counter)
    groups: int = 0

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["descriptions"] = dict(sorted(self.descriptions.items()))
        return d


def read_corpus(root: Path) -> tuple[list[Example], CorpusReport]:
    """The deduplicated examples of a collection and what was left out."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"corpus folder not found: {root}")
    if EVALBENCH.search(str(root.resolve())):
        raise CorpusError(
            f"{root} looks like MD-EvalBench: benchmark tasks are for evaluation, never training"
        )
    manifest = root / "manifest.jsonl"
    if manifest.is_file():
        examples, report = _from_manifest(root, manifest)
    else:
        examples, report = _from_folder(root)
    report.scripts = len(examples) + report.excluded_evalbench + report.unreadable
    kept = dedupe(examples, report)
    report.used = len(kept)
    report.groups = len({e.group for e in kept})
    report.descriptions = Counter(e.description_source for e in kept)
    return kept, report


def script_key(script: str) -> str:
    """What two copies of a script share: their commands, without comments, blank lines or spacing."""
    return "\n".join(" ".join(c.words) for c in commands(script))


def dedupe(examples: list[Example], report: CorpusReport) -> list[Example]:
    """One example per distinct script; the first by (group, id) is kept, so a copy of an example in a
    tutorial collection never lands on the other side of the split from the original."""
    seen: set[str] = set()
    out = []
    for e in sorted(examples, key=lambda e: (e.group, e.id)):
        key = script_key(e.script)
        if not key or key in seen:
            report.duplicates += bool(key)
            continue
        seen.add(key)
        out.append(e)
    return out


def _finish(e: Example) -> Example:
    f = feats.features(e.script)
    e.requirements = feats.requirements(f)
    if not e.description.strip():
        e.description, e.description_source = feats.describe(f), "rules"
    return e


# ------------------------------------------------------------------------------------------ manifest
def _from_manifest(root: Path, manifest: Path) -> tuple[list[Example], CorpusReport]:
    report = CorpusReport(str(root.resolve()), "manifest")
    out = []
    try:
        lines = manifest.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"cannot read {manifest}: {exc}") from exc
    for line in lines:
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            eid, script_file = str(entry["id"]), str(entry["script_file"])
        except (ValueError, KeyError, TypeError):
            report.unreadable += 1
            continue
        where = " ".join(str(entry.get(k, "")) for k in ("id", "source_repo", "upstream_repo", "path"))
        if EVALBENCH.search(where):
            report.excluded_evalbench += 1
            continue
        base = root / eid
        path = base / script_file
        if "/" in eid or ".." in Path(script_file).parts or not path.is_file():
            report.unreadable += 1
            continue
        script = path.read_text(encoding="utf-8", errors="replace")
        names = [str(n) for n in entry.get("files") or []]
        flat = entry.get("workdir", ".") in (".", "") and all("/" not in n for n in names)
        files = {n: str((base / n).resolve()) for n in names if n != script_file and (base / n).is_file()}
        dry = (entry.get("dry_run") or {}).get("status", "ok")
        source_dir = str(Path(str(entry.get("path") or script_file)).parent)
        out.append(
            _finish(
                Example(
                    id=eid,
                    script=script,
                    description=str(entry.get("description") or ""),
                    description_source=str(entry.get("description_source") or "manifest"),
                    group=f"{entry.get('source_repo') or root.name}:{source_dir}",
                    files=files if flat else {},
                    source=f"{entry.get('source_repo') or root.name}:{entry.get('path') or script_file}",
                    license=str(entry.get("license") or ""),
                    area=str(entry.get("area") or "all"),
                    runnable=flat and not entry.get("needs_missing_files") and dry == "ok",
                )
            )
        )
    return out, report


# ------------------------------------------------------------------------------------------ a lab folder
def _from_folder(root: Path) -> tuple[list[Example], CorpusReport]:
    report = CorpusReport(str(root.resolve()), "folder")
    out = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or not SCRIPT_NAME.match(path.name) or path.stat().st_size > MAX_SCRIPT_BYTES:
            continue
        rel = path.relative_to(root)
        if EVALBENCH.search(str(rel)):
            report.excluded_evalbench += 1
            continue
        try:
            script = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            report.unreadable += 1
            continue
        cmds = commands(script)
        if not any(c.name in ("run", "minimize") for c in cmds) or not any(
            c.name in ("units", "pair_style", "read_data", "create_box") for c in cmds
        ):
            continue  # not a LAMMPS input (a notes file named *.in)
        description, how = readme_description(path.parent), "readme"
        if not description:
            description, how = header_comment(script), "header_comment"
        files, complete = _reads(cmds, path.parent)
        out.append(
            _finish(
                Example(
                    id=str(rel).replace("/", "__"),
                    script=script,
                    description=description,
                    description_source=how if description else "rules",
                    group=f"{root.name}:{rel.parent}",
                    files=files,
                    source=f"{root.name}:{rel}",
                    runnable=complete,
                )
            )
        )
    return out, report


def _reads(cmds, folder: Path) -> tuple[dict[str, str], bool]:
    """Files the script reads that sit beside it ({name: path}) and whether all of them do."""
    wanted: list[str] = []
    for c in cmds:
        if c.name in READ_COMMANDS and len(c.words) > 1:
            wanted.append(c.words[2] if c.name == "molecule" and len(c.words) > 2 else c.words[1])
    wanted += [word for _cmd, word in referenced_files([c for c in cmds if c.name == "pair_coeff"])]
    files, complete = {}, True
    for name in dict.fromkeys(wanted):
        p = folder / name
        if "$" not in name and "/" not in name and p.is_file():
            files[name] = str(p.resolve())
        else:
            complete = False  # a path elsewhere, a variable, or a potential LAMMPS may ship
    return files, complete


def readme_description(folder: Path) -> str:
    """The first paragraph of prose in a README beside the script (headings and code skipped)."""
    for name in README_NAMES:
        p = folder / name
        if not p.is_file():
            continue
        try:
            text = p.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        para: list[str] = []
        in_code = False
        for line in text.splitlines():
            s = line.strip()
            if s.startswith("```"):
                in_code = not in_code
                continue
            if in_code or s.startswith(("#", "=", "-", "!", "<", "|")) and not para:
                continue
            if not s:
                if para:
                    break
                continue
            para.append(s)
        if para:
            return " ".join(para)[:600]
    return ""


def header_comment(script: str) -> str:
    """The script's leading comment block as prose (rulers like ``#####`` and empty lines dropped)."""
    lines = []
    for line in script.splitlines():
        s = line.strip()
        if not s:
            if lines:
                break
            continue
        if not s.startswith("#"):
            break
        body = s.lstrip("#").strip()
        if body and re.search(r"[A-Za-z]{3}", body) and not re.fullmatch(r"[-=*#~_ ]+", body):
            lines.append(body)
    return " ".join(lines)[:600]


# ------------------------------------------------------------------------------------------ evaluation set
def write_tasks(examples: list[Example], out: Path) -> int:
    """The held-out examples as a code task file in the MD-EvalBench format ``mdbot eval code`` reads:
    ``{"id", "task", "standrd_code", "type", "files", "dir"}``, each task's files copied into
    ``<out parent>/<dir>/``. Only examples that can run in the sandbox as given (``runnable``)."""
    import shutil

    out.parent.mkdir(parents=True, exist_ok=True)
    base = out.parent / out.stem
    rows = []
    for e in examples:
        if not e.runnable:
            continue
        folder = base / e.id
        folder.mkdir(parents=True, exist_ok=True)
        for name, path in e.files.items():
            shutil.copyfile(path, folder / name)
        rows.append(
            {"id": e.id, "task": e.task, "standrd_code": e.script, "type": e.area, "files": sorted(e.files),
             "dir": f"{base.name}/{e.id}", "source": e.source, "license": e.license}
        )  # fmt: skip
    tmp = out.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(out)
    return len(rows)
