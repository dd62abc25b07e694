"""A LAMMPS ERROR or WARNING in a message, explained without a model.

Anywhere in the message ("I got: ERROR: Illegal fix nvt command (../fix_nh.cpp:113) what does that
mean?", a pasted log, a bare line) the first ERROR line, else the first WARNING, is what the user asks
about. The explanation says what the message means for that command (wrong number or kind of arguments,
an unknown name, a missing definition), the likely fixes (the sandbox's hint, plus the checks that fit the
kind of message), the command's syntax from its manual page, and the manual's own entry for that message
(the Errors_messages / Errors_warnings pages, where the manual has one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .manual_page import sections

if TYPE_CHECKING:
    from .configuration import Context

_LINE = re.compile(
    r"\b(ERROR|WARNING)(?: on proc \d+)?:\s*(?P<msg>.+?)\s*(?:\((?P<src>[\w./-]+\.(?:cpp|h)):\d+\)|$)", re.M
)
_ILLEGAL = re.compile(r"^Illegal (?P<cmd>.+?) command\b(?::\s*(?P<why>.*))?", re.I)
_STYLE_WORDS = {
    "pair": "pair_style", "bond": "bond_style", "angle": "angle_style", "dihedral": "dihedral_style",
    "improper": "improper_style", "kspace": "kspace_style", "atom": "atom_style", "fix": "fix",
    "compute": "compute", "dump": "dump", "region": "region", "min": "min_style",
}  # fmt: skip
SYNTAX_CHARS = 2500  # of a command's Syntax section in an explanation (fix nvt's keywords come after 1500)
_COEFFS = re.compile(r"Incorrect args for (pair|bond|angle|dihedral|improper) coefficients", re.I)


@dataclass
class Message:
    kind: str  # ERROR or WARNING
    text: str  # without the source reference
    source_file: str | None  # LAMMPS's source file, when given


@dataclass
class Explanation:
    message: Message
    command: str | None  # the command the message is about ("fix nvt", "pair_coeff")
    meaning: str
    fixes: list[str] = field(default_factory=list)
    syntax: str = ""  # the Syntax section of the command's page
    manual_entry: str = ""  # the manual's own text for this message
    pages: list[dict] = field(default_factory=list)  # cited: the command's page, the messages page


def find_message(text: str) -> Message | None:
    """The first ERROR in the text, else the first WARNING; None when there is neither."""
    found = [m for m in _LINE.finditer(text)]
    for kind in ("ERROR", "WARNING"):
        for m in found:
            if m.group(1) == kind:
                msg = m.group("msg").strip().rstrip(".")
                return Message(kind, msg, m.group("src"))
    return None


def command_of(msg: str) -> str | None:
    """The command a message is about: "Illegal fix nvt command" → "fix nvt"."""
    m = _ILLEGAL.match(msg)
    if m:
        return " ".join(m.group("cmd").split())
    m = _COEFFS.search(msg)
    if m:
        return f"{m.group(1).lower()}_coeff"
    m = re.search(r"Unrecognized (\w+) style '([^']+)'|Unknown (\w+) style:? '?([^' ]+)'?", msg)
    if m:
        word = (m.group(1) or m.group(3)).lower()
        return _STYLE_WORDS.get(word, f"{word}_style")
    m = re.search(r"\b(fix|compute|dump) ([\w/]+)", msg)
    if m:
        return f"{m.group(1)} {m.group(2)}"
    return None


def meaning(msg: Message, command: str | None) -> tuple[str, list[str]]:
    """What the message says, in words, and the checks that fit its kind."""
    text = msg.text
    ill = _ILLEGAL.match(text)
    if ill:
        why = f" (LAMMPS adds: {ill.group('why')})" if ill.group("why") else ""
        return (
            f"LAMMPS could not read the arguments of `{command}`{why}: the line has the wrong number of "
            "arguments, an unknown keyword, or a value of the wrong kind (a word where a number belongs, "
            "a style's keyword misspelled).",
            [
                f"Compare your `{command}` line with the Syntax below, argument by argument: required "
                "arguments first, then keyword/value pairs.",
                "A `${name}` or `v_name` in the line must be defined before it (variable command).",
            ],
        )
    if _COEFFS.search(text):
        return (
            f"The `{command}` line does not fit the style: too few or too many coefficients for it, or "
            "type numbers outside the box's atom types.",
            [f"Give `{command}` exactly the coefficients the style's page lists, for types that exist."],
        )
    if re.search(r"Unknown command|Unrecognized .* style|Unknown .* style", text, re.I):
        return (
            "The name is not a command or style of this LAMMPS build: misspelled, or its package is not "
            "installed.",
            ["Check the spelling; `lmp -h` lists the styles installed here."],
        )
    if msg.kind == "WARNING":
        return ("A warning: LAMMPS goes on, but the result may not be what you meant.", [])
    return ("", [])


def _entry_pattern(entry: str) -> re.Pattern[str] | None:
    m = re.match(r"^\*(.+?)\*(?:\s|—|$)", entry)
    if not m:
        return None
    head = m.group(1).strip().rstrip(".")
    parts = [r"\S+" if "%" in w else re.escape(w) for w in head.split()]
    pattern = r"\s+".join(parts).replace(r"\.\.\.", r".+")
    return re.compile(rf"^{pattern}$", re.I)


def manual_entry(pages: list[dict], msg: Message) -> tuple[str, dict | None]:
    """The entry of the manual's messages page that matches the message (the most specific one)."""
    wanted = "errors_warnings" if msg.kind == "WARNING" else "errors_messages"
    for hit in pages:
        if hit["doc_id"].lower() != wanted:
            continue
        best: tuple[int, str] | None = None
        candidates = {msg.text, msg.text.split(":", 1)[0].strip()}
        for section in sections(hit.get("source", "")):
            for block in section.blocks:
                pattern = _entry_pattern(block.text)
                if pattern and any(pattern.match(c) for c in candidates):
                    specific = len(pattern.pattern.replace(".+", ""))
                    if best is None or specific > best[0]:
                        best = (specific, block.text)
        if best:
            body = re.sub(r"^\*(.+?)\*\s*(—\s*)?", "", best[1]).strip()
            return body, hit
    return "", None


def syntax_of(hit: dict) -> str:
    """The Syntax section of a command's page (code and the argument list): whole blocks up to SYNTAX_CHARS,
    a long keyword listing cut to its first entries (never a code block cut open)."""
    from .offline import trim_block

    for section in sections(hit.get("source", "")):
        if section.name == "Syntax":
            parts: list[str] = []
            for b in section.blocks:
                text = trim_block(b, section.name, set())
                part = f"```\n{text}\n```" if b.kind == "code" else text
                if parts and sum(map(len, parts)) + len(part) > SYNTAX_CHARS:
                    parts.append("…")
                    break
                parts.append(part)
            return "\n".join(parts)
    return hit["text"] if hit.get("section") == "Syntax" else ""


def explain(ctx: Context, text: str, hint: str | None) -> Explanation | None:
    """The explanation of the message's ERROR (or WARNING) line; None when it has neither."""
    from .passages import search

    msg = find_message(text)
    if msg is None:
        return None
    command = command_of(msg.text)
    what, fixes = meaning(msg, command)
    if hint and hint not in fixes:
        fixes.insert(0, hint)
    out = Explanation(msg, command, what, fixes)
    found, _ = search(ctx, f"{msg.kind}: {msg.text}", 6)
    entry, entry_page = manual_entry(found, msg)
    if entry_page is None:  # the messages page by its name, when the search ranked it lower
        page = "Errors_warnings" if msg.kind == "WARNING" else "Errors_messages"
        listed, _ = search(ctx, page, 3, kinds={"manual"})
        entry, entry_page = manual_entry(listed, msg)
    if command:
        from .offline import documenting

        page = documenting(ctx, command)
        if page and not page["doc_id"].lower().startswith("errors"):
            out.syntax = syntax_of(page)
            out.pages.append(page)
    if entry_page is not None:
        out.manual_entry = entry
        out.pages.append(entry_page)
    seen = {p["doc_id"] for p in out.pages}
    out.pages += [p for p in found if p["doc_id"] not in seen][: max(0, 3 - len(out.pages))]
    return out


def render(ex: Explanation, where: str = "") -> str:
    """The explanation in Markdown, citing ``ex.pages`` by number."""
    n = {p["doc_id"]: i for i, p in enumerate(ex.pages, 1)}
    lines = [f"*{ex.message.kind.capitalize()}:* {ex.message.text}"]
    if where:
        lines.append(where)
    if ex.meaning:
        lines.append(f"*What it means:* {ex.meaning}")
    if ex.fixes:
        lines.append("*Likely fixes:*\n" + "\n".join(f"- {f}" for f in ex.fixes))
    cmd_page = next((p for p in ex.pages if not p["doc_id"].lower().startswith("errors")), None)
    if ex.syntax and cmd_page:
        lines.append(f"*Syntax of `{ex.command}`* [{n[cmd_page['doc_id']]}]:\n{ex.syntax}")
    if ex.manual_entry:
        page = next(p for p in ex.pages if p["doc_id"].lower().startswith("errors"))
        lines.append(f"*The manual on this message* [{n[page['doc_id']]}]: {ex.manual_entry}")
    return "\n\n".join(lines)
