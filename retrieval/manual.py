"""The LAMMPS manual as chunks: Sphinx HTML pages (docs.lammps.org) and reStructuredText (``doc/src``).

A command page is split along its own structure — Syntax, Examples, Description, Restrictions, Related
commands, Default — and records every command it documents (``fix_nh`` documents ``fix nvt``, ``fix npt``,
``fix nph`` and their accelerator variants), plus the other spelling of commands renamed since, so that
``fix qeq/reax`` (2020) and ``fix qeq/reaxff`` (now) both find the page.

Each page records the LAMMPS version of its manual: Sphinx HTML prints it on every page ("Version: 19 Mar
2020"); for ``doc/src`` it is ``src/version.h`` of the checkout when there is one, else the newest date of
the manual's own ``versionadded``/``versionchanged`` notes (exact for a release's sources: the 2024 copy says
29 Aug 2024). The page's link is the same version's source on GitHub (tag ``patch_<date>``, which every
release has; ``docs.lammps.org`` serves only the current feature, stable and development manuals).
"""

from __future__ import annotations

import re
from pathlib import Path

from .documents import Chunk, split_text

CHUNK_CHARS = 1000  # ~250 tokens: about what all-MiniLM-L6-v2 reads (256 word pieces)
_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
_HTML_VERSION = re.compile(r'class="lammps_version">\s*Version:\s*(?:<b>)?\s*([^<]+?)\s*<')
_VERSION_NOTE = re.compile(r"^\.\.\s+version(?:added|changed)::\s*(\d{1,2})([A-Z][a-z]{2})(\d{4})", re.M)
_VERSION_H = re.compile(r'#define\s+LAMMPS_VERSION\s+"([^"]+)"')


def version_key(version: str) -> tuple[int, int, int] | None:
    """(year, month, day) of a LAMMPS version ("29 Aug 2024", "22 Jul 2025 - Update 4", "29Aug2024")."""
    m = re.match(r"\s*(\d{1,2})\s*([A-Z][a-z]{2})[a-z]*\s*(\d{4})", version or "")
    if not m or m.group(2) not in _MONTHS:
        return None
    return int(m.group(3)), _MONTHS.index(m.group(2)) + 1, int(m.group(1))


def version_tag(version: str) -> str:
    """The date as LAMMPS tags write it: "29 Aug 2024" → "29Aug2024" ("" when it is no date)."""
    key = version_key(version)
    return f"{key[2]}{_MONTHS[key[1] - 1]}{key[0]}" if key else ""


def detect_version(root: Path, files: list[Path]) -> str:
    """The LAMMPS version of a ``doc/src`` tree ("" when it cannot be told; HTML pages say their own)."""
    for candidate in (root.parent.parent / "src" / "version.h", root.parent / "src" / "version.h"):
        try:
            m = _VERSION_H.search(candidate.read_text(errors="replace"))
        except OSError:
            continue
        if m:
            return m.group(1).strip()
    newest: tuple[int, int, int] | None = None
    for f in files:
        if f.suffix.lower() != ".rst":
            continue
        try:
            text = f.read_text(errors="replace")
        except OSError:
            continue
        for day, month, year in _VERSION_NOTE.findall(text):
            if month in _MONTHS:
                key = (int(year), _MONTHS.index(month) + 1, int(day))
                newest = key if newest is None or key > newest else newest
    return f"{newest[2]} {_MONTHS[newest[1] - 1]} {newest[0]}" if newest else ""


def page_url(template: str, version: str, stem: str) -> str:
    tag = version_tag(version)
    return template.format(tag=tag, stem=stem) if template and tag else ""

# Renamed since the 2020 manual (old <-> new); both spellings are recorded for a page naming either.
RENAMED = {
    "pair_style reax/c": "pair_style reaxff",
    "pair_style reax/c/omp": "pair_style reaxff/omp",
    "pair_style reax/c/kk": "pair_style reaxff/kk",
    "fix qeq/reax": "fix qeq/reaxff",
    "fix qeq/reax/omp": "fix qeq/reaxff/omp",
    "fix qeq/reax/kk": "fix qeq/reaxff/kk",
    "fix reax/c/bonds": "fix reaxff/bonds",
    "fix reax/c/species": "fix reaxff/species",
    "fix reax/c/bonds/kk": "fix reaxff/bonds/kk",
    "fix reax/c/species/kk": "fix reaxff/species/kk",
    "pair_style meam/c": "pair_style meam",
    "pair_style lj/sdk": "pair_style lj/spica",
    "pair_style lj/sdk/coul/long": "pair_style lj/spica/coul/long",
    "pair_style lj/sdk/coul/msm": "pair_style lj/spica/coul/msm",
    "angle_style sdk": "angle_style spica",
    "reset_ids": "reset_atoms id",
    "reset_mol_ids": "reset_atoms mol",
    "kim_init": "kim init",
    "kim_interactions": "kim interactions",
    "kim_query": "kim query",
    "kim_param": "kim param",
    "kim_property": "kim property",
}
_BOTH = {**RENAMED, **{new: old for old, new in RENAMED.items()}}


def with_aliases(names: list[str]) -> list[str]:
    out = list(dict.fromkeys(names))
    for name in names:
        other = _BOTH.get(name)
        if other and other not in out:
            out.append(other)
    return out


def _command_from_title(title: str) -> str | None:
    m = re.match(r"^(.+?)\s+command$", title.strip())
    return " ".join(m.group(1).split()) if m else None


def _clean(text: str) -> str:
    text = text.replace("\u00b6", "").replace("\xa0", " ")
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


_BLOCKS = ["p", "li", "pre", "div", "dd", "dt", "tr", "table", "blockquote", "ul", "ol", "dl", "br"]


def parse_html(html: str, stem: str, source: str) -> list[Chunk]:
    """Chunks of one Sphinx HTML page."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")
    body = (
        soup.find("div", attrs={"itemprop": "articleBody"}) or soup.find(attrs={"role": "main"}) or soup.body
    )
    if body is None:
        return []
    links = sorted(
        {
            a["href"].split("#")[0][: -len(".html")]
            for a in body.find_all("a", href=True)
            if "reference internal" in " ".join(a.get("class", []))
            and a["href"].split("#")[0].endswith(".html")
        }
        - {stem}
    )
    for junk in body.find_all(["script", "style", "nav", "footer"]):
        junk.decompose()
    for junk in body.find_all("a", class_="headerlink"):
        junk.decompose()
    for junk in body.find_all(class_=["rst-footer-buttons", "wy-breadcrumbs"]):
        junk.decompose()
    headings: list[tuple[int, str]] = []
    for h in body.find_all(["h1", "h2", "h3", "h4"]):
        level = int(h.name[1])
        text = " ".join(h.get_text(" ").split()).replace("\u00b6", "").strip()
        headings.append((level, text))
        h.replace_with(f"\n\x00{len(headings) - 1}\x00\n")
    for tag in body.find_all(_BLOCKS):
        tag.insert_after("\n\n" if tag.name != "br" else "\n")
    raw = body.get_text("")
    return _sections_to_chunks(raw, headings, stem, source, links)


SUMMARY_CHARS = 600


def _sections_to_chunks(
    raw: str, headings: list[tuple[int, str]], stem: str, source: str, links: list[str] | None = None
) -> list[Chunk]:
    parts = re.split(r"\x00(\d+)\x00", raw)
    title = next((t for lvl, t in headings if lvl == 1), stem)
    commands = [c for c in (_command_from_title(t) for lvl, t in headings if lvl == 1) if c]
    commands = with_aliases(commands)
    if commands:
        title = commands[0] + " command" + (f" (and {len(commands) - 1} more)" if len(commands) > 1 else "")
    sections: list[tuple[str, str]] = [("", parts[0])]
    h2 = ""
    for i in range(1, len(parts), 2):
        level, text = headings[int(parts[i])]
        if level == 1:
            name = ""
        elif level == 2:
            h2 = name = text
        else:
            name = f"{h2} / {text}" if h2 else text
        sections.append((name, parts[i + 1] if i + 1 < len(parts) else ""))
    merged: list[tuple[str, str]] = []
    for name, body in sections:
        body = _clean(body)
        if not body:
            continue
        if merged and merged[-1][0] == name:
            merged[-1] = (name, merged[-1][1] + "\n\n" + body)
        else:
            merged.append((name, body))
    chunks: list[Chunk] = []
    # A summary passage per page: what the page is about as a whole (its title, the commands it documents,
    # the lead of its description). It carries the page's outgoing links for the authority prior.
    lead = next(
        (b for n, b in merged if n in ("Description", "Overview", "")), merged[0][1] if merged else ""
    )
    if merged:
        names = ", ".join(commands[:12])
        summary = f"{title}. {('Documents: ' + names + '. ') if names else ''}{lead[:SUMMARY_CHARS]}"
        chunks.append(
            Chunk(stem, title, "Summary", summary, source, "manual", commands, 0, list(links or []))
        )
    for name, body in merged:
        for piece in split_text(body, CHUNK_CHARS):
            chunks.append(
                Chunk(
                    doc_id=stem,
                    title=title,
                    section=name or "Overview",
                    text=piece,
                    source=source,
                    kind="manual",
                    commands=commands,
                    ordinal=len(chunks),
                )
            )
    return chunks


_RST_UNDERLINE = re.compile(r'^([=\-"^~*#+`:.\'_])\1{2,}\s*$')


def _rst_inline(text: str) -> str:
    text = re.sub(r":\w+:`([^`<]*?)\s*<[^>]*>`_?", r"\1", text)  # :doc:`fix nvt <fix_nh>` -> fix nvt
    text = re.sub(r":\w+:`([^`]*)`", r"\1", text)  # :math:`x`, :doc:`fix_nh`
    text = re.sub(r"`([^`<]+?)\s*<[^>]*>`_+", r"\1", text)  # `LAMMPS <https://…>`_
    text = text.replace("``", "")
    text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?!\w)", r"\1", text)
    text = re.sub(r"\|([\w.]+)\|", r"\1", text)
    return text


def parse_rst(text: str, stem: str, source: str) -> list[Chunk]:
    """Chunks of one reStructuredText page of ``doc/src``."""
    lines = text.splitlines()
    commands: list[str] = []
    out_lines: list[str] = []
    headings: list[tuple[int, str]] = []
    levels: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^\.\.\s+index::\s*(.+)$", line)
        if m:
            commands.append(" ".join(m.group(1).split()))
            i += 1
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and _RST_UNDERLINE.match(nxt) and len(nxt.strip()) >= len(line.strip()) - 1:
            char = nxt.strip()[0]
            if char not in levels:
                levels.append(char)
            headings.append((min(levels.index(char) + 1, 4), _rst_inline(line.strip())))
            out_lines.append(f"\x00{len(headings) - 1}\x00")
            i += 2
            continue
        if re.match(r"^\.\.\s+[\w-]+::", line):  # directive line (code-block, note, …): keep its body
            i += 1
            continue
        if re.match(r"^\.\.\s", line):  # comment or link target
            i += 1
            continue
        out_lines.append(_rst_inline(line))
        i += 1
    raw = "\n".join(out_lines)
    links = sorted({m.split("#")[0] for m in re.findall(r":doc:`(?:[^`<]*<)?([\w./-]+)>?`", text)} - {stem})
    chunks = _sections_to_chunks(raw, headings, stem, source, links)
    if commands:
        names = with_aliases(commands)
        for c in chunks:
            c.commands = list(dict.fromkeys([*names, *c.commands]))
            if not c.title.endswith(")") and not c.title.endswith("command"):
                continue
            c.title = names[0] + " command" + (f" (and {len(names) - 1} more)" if len(names) > 1 else "")
    return chunks


def parse_page(path: Path, version: str = "", link: str = "") -> list[Chunk]:
    """Chunks of one manual page, by file type, each marked with the manual's version (an HTML page's own
    "Version:" line wins over ``version``) and the page's link for that version (``link``: a template with
    ``{tag}`` and ``{stem}``; none when the version is unknown)."""
    data = path.read_bytes()
    if b"\0" in data[:4096]:
        raise ValueError("binary file, not a manual page")
    text = data.decode("utf-8", errors="replace")
    source = str(path.resolve())
    if path.suffix.lower() in (".html", ".htm"):
        m = _HTML_VERSION.search(text[:20000])
        version = " ".join(m.group(1).split()) if m else version
        chunks = parse_html(text, path.stem, source)
    elif path.suffix.lower() == ".rst":
        chunks = parse_rst(text, path.stem, source)
    else:
        raise ValueError(f"not a manual page (expected .html or .rst): {path.name}")
    url = page_url(link, version, path.stem)
    for c in chunks:
        c.version, c.url = version, url
    return chunks
