"""No invented commands: every LAMMPS command or style an answer names is checked against what exists.

"Exists" means the installed LAMMPS lists it (``lmp -h``, every style it has); only when that list is not
available (no LAMMPS here) does the ingested manual decide. A name the binary lacks is removed from the answer
(the sentence, bullet or code line that uses it) and the removal is said at the end — also when the manual
documents it (a package this build lacks, or a name renamed or removed since that manual, e.g. ``pair_style
reax/c``), which the note says. Numbered citations that point at no passage are dropped; when the cited
manual is older than the installed LAMMPS, the answer says so once.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from mdbot.sandbox.install import base_style

from .intent import KNOWN_COMMANDS

# command -> (capabilities category, index of the style word)
_STYLE_AT: dict[str, tuple[str, int]] = {
    "pair_style": ("pair", 1),
    "bond_style": ("bond", 1),
    "angle_style": ("angle", 1),
    "dihedral_style": ("dihedral", 1),
    "improper_style": ("improper", 1),
    "kspace_style": ("kspace", 1),
    "atom_style": ("atom", 1),
    "min_style": ("minimize", 1),
    "run_style": ("integrate", 1),
    "fix": ("fix", 3),
    "compute": ("compute", 3),
    "dump": ("dump", 3),
    "region": ("region", 2),
}
_INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.S)
_REFS = ("v_", "c_", "f_", "i_", "d_", "i2_", "d2_")


@dataclass
class Verdict:
    text: str
    removed: list[str] = field(default_factory=list)  # names known to nothing: stripped
    not_installed: list[str] = field(default_factory=list)  # in the manual, not in this build


class CommandChecker:
    """Decides whether a LAMMPS command line or style name exists."""

    def __init__(self, styles: dict[str, list[str]] | None, manual_names: set[str], version: str = ""):
        self.styles = {k: set(v) for k, v in (styles or {}).items()}
        self.manual = manual_names
        self.version = version
        self.commands = set(KNOWN_COMMANDS) | self.styles.get("command", set())
        self.commands |= {n for n in manual_names if " " not in n}
        self.all_styles = set().union(*self.styles.values()) if self.styles else set()
        self.all_styles |= {n.split(" ", 1)[1] for n in manual_names if " " in n}

    @property
    def usable(self) -> bool:
        return bool(self.styles or self.manual)

    def _style_known(self, command: str, category: str, style: str) -> str:
        base = base_style(style)
        if style in self.styles.get(category, set()) or base in self.styles.get(category, set()):
            return "ok"
        cat = {"minimize": "min", "integrate": "run"}.get(category, category)
        if {f"{command} {style}", f"{command} {base}", f"{cat} {style}"} & self.manual:
            return "manual"
        return "unknown"

    def judge(self, snippet: str) -> tuple[str, str] | None:
        """(verdict, name) for a snippet that names a command or style; None when it names none."""
        words = snippet.strip().split()
        if not words:
            return None
        head = words[0].lower()
        if head in _STYLE_AT:
            category, at = _STYLE_AT[head]
            if head in ("fix", "compute", "dump") and len(words) == 2:
                at = 1  # prose writes "fix nvt"
            if len(words) <= at:
                return None
            style = words[at]
            if style.startswith(("$", "v_")) or not re.fullmatch(r"[A-Za-z0-9_/.+-]+", style):
                return None
            return self._style_known(head, category, style), f"{head} {style}"
        if len(words) >= 2 and re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)+", head):
            if head.startswith(_REFS) or head in self.commands:
                return None
            return "unknown", head
        if len(words) == 1 and "/" in head and re.fullmatch(r"[a-z][a-z0-9_]*(/[a-z0-9_.]+)+", head):
            if head in self.all_styles or base_style(head) in self.all_styles:
                return None
            return "unknown", head
        return None


def _cut_sentence(text: str, start: int, end: int) -> str:
    """Remove the sentence (or the list item / line) that holds text[start:end]."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    line = text[line_start:line_end]
    if re.match(r"\s*([-*•]|\d+[.)])\s", line):  # a list item goes whole
        return text[:line_start] + text[line_end + 1 :]
    s = max(text.rfind(". ", line_start, start), text.rfind("? ", line_start, start))
    s = line_start if s < 0 else s + 2
    e = -1
    for mark in (". ", "? ", "! "):
        found = text.find(mark, end, line_end)
        if found >= 0:
            e = found + 2 if e < 0 else min(e, found + 2)
    if e < 0:
        e = line_end
        if text[e : e + 1] == "\n" and s == line_start:
            e += 1
    return text[:s] + text[e:]


def check_answer(text: str, checker: CommandChecker) -> Verdict:
    """Strip what names unknown commands; collect notes. Code blocks are checked line by line."""
    if not checker.usable:
        return Verdict(text)
    removed: list[str] = []
    manual_only: list[str] = []

    def fix_block(m: re.Match) -> str:
        kept = []
        for line in m.group(1).splitlines():
            verdict = checker.judge(line.split("#", 1)[0])
            if verdict and verdict[0] == "unknown":
                removed.append(verdict[1])
                continue
            if verdict and verdict[0] == "manual":
                manual_only.append(verdict[1])
            kept.append(line)
        head = m.group(0)[: m.start(1) - m.start(0)]
        return head + "\n".join(kept) + ("\n" if kept else "") + "```"

    text = _FENCE.sub(fix_block, text)
    while True:  # one removal at a time: positions move
        for m in _INLINE.finditer(text):
            if "```" in text[: m.start()] and text[: m.start()].count("```") % 2:
                continue  # inside a code block
            verdict = checker.judge(m.group(1))
            if verdict and verdict[0] == "unknown":
                removed.append(verdict[1])
                text = _cut_sentence(text, m.start(), m.end())
                break
            if verdict and verdict[0] == "manual" and verdict[1] not in manual_only:
                manual_only.append(verdict[1])
        else:
            break
    if checker.styles and manual_only:  # the binary's list decides: what it lacks goes, with a word why
        text = _strip_names(text, set(manual_only), checker)
    removed = list(dict.fromkeys(removed))
    manual_only = list(dict.fromkeys(manual_only))
    notes = []
    build = f"LAMMPS {checker.version}" if checker.version else "the installed LAMMPS"
    if removed:
        names = ", ".join(f"`{n}`" for n in removed)
        notes.append(
            f"⚠️ Removed from this answer: {names} — not a command or style of {build} nor of the manual."
        )
    if manual_only and checker.styles:
        names = ", ".join(_with_new_name(n) for n in manual_only)
        notes.append(
            f"⚠️ Removed from this answer: {names} — documented in the manual but not in {build} (its "
            "package is not installed, or it was renamed or removed since)."
        )
    elif manual_only:
        names = ", ".join(f"`{n}`" for n in manual_only)
        notes.append(f"ℹ️ {names}: documented in the manual but not installed in {build}.")
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    if notes:
        text += "\n\n" + "\n".join(notes)
    return Verdict(text, removed, manual_only)


def _strip_names(text: str, names: set[str], checker: CommandChecker) -> str:
    """Remove the code lines and the sentences that use any of ``names`` (as judged by the checker)."""

    def fix_block(m: re.Match) -> str:
        lines = m.group(1).splitlines()
        kept = [ln for ln in lines if (checker.judge(ln.split("#", 1)[0]) or ("", ""))[1] not in names]
        head = m.group(0)[: m.start(1) - m.start(0)]
        return head + "\n".join(kept) + ("\n" if kept else "") + "```"

    text = _FENCE.sub(fix_block, text)
    while True:
        for m in _INLINE.finditer(text):
            if "```" in text[: m.start()] and text[: m.start()].count("```") % 2:
                continue
            verdict = checker.judge(m.group(1))
            if verdict and verdict[1] in names:
                text = _cut_sentence(text, m.start(), m.end())
                break
        else:
            return text


def _with_new_name(name: str) -> str:
    from mdbot.retrieval.manual import RENAMED

    new = RENAMED.get(name)
    return f"`{name}` (now `{new}`)" if new else f"`{name}`"


@functools.lru_cache(maxsize=1)
def installed_version() -> str:
    """The installed LAMMPS's version ("22 Jul 2025 - Update 4"), "" when there is none to ask."""
    from mdbot.sandbox.install import LammpsNotFound, capabilities

    try:
        return capabilities().version
    except (LammpsNotFound, OSError):
        return ""


def version_note(passages: list[dict], installed: str) -> str:
    """One line when a cited manual passage comes from a manual older than the installed LAMMPS."""
    from mdbot.retrieval.manual import version_key

    have = version_key(installed)
    older = sorted(
        {p["version"] for p in passages if p.get("kind") == "manual" and p.get("version")},
        key=lambda v: version_key(v) or (0, 0, 0),
    )
    older = [v for v in older if have and (version_key(v) or have) < have]
    if not older:
        return ""
    return (
        f"ℹ️ Cited from the LAMMPS manual of {' and '.join(older)}; the installed LAMMPS is {installed}, which "
        "may differ (newer styles, changed defaults): its own style list decided which commands stay above."
    )


_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.S)
_CITE = re.compile(r"\[(\d{1,3})\]")


def citations(text: str, passages: list[dict]) -> tuple[str, list[dict]]:
    """Drop citation numbers that point at no passage; return the passages cited (all, if none is).

    Only prose is read: inside code, ``c_1[4]`` is a LAMMPS array index, not a citation."""
    n = len(passages)
    cited_set: set[int] = set()

    def keep(m: re.Match) -> str:
        number = int(m.group(1))
        if 1 <= number <= n:
            cited_set.add(number)
            return m.group(0)
        return ""

    parts, last = [], 0
    for code in _CODE.finditer(text):
        parts.append(_CITE.sub(keep, text[last : code.start()]))
        parts.append(code.group(0))
        last = code.end()
    parts.append(_CITE.sub(keep, text[last:]))
    text = "".join(parts)
    cited = sorted(cited_set)
    chosen = cited or list(range(1, n + 1))
    out = []
    for i in chosen:
        p = passages[i - 1]
        out.append(
            {
                "n": i,
                "doc_id": p["doc_id"],
                "title": p["title"],
                "section": p.get("section", ""),
                "source": p.get("source", ""),
                "kind": p.get("kind", ""),
                "version": p.get("version", ""),
                "url": p.get("url", ""),
                "cited": bool(cited),
            }
        )
    if any(c["kind"] == "manual" and c["version"] for c in out):
        note = version_note(out, installed_version())
        if note and note not in text:
            text = f"{text.rstrip()}\n\n{note}"
    return text, out
