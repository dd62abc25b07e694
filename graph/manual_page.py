"""A manual page as a reader sees it: sections of whole blocks (paragraphs, tables, lists, code, math).

The knowledge base returns passages cut for retrieval (about 1000 characters, markup stripped, math as raw
LaTeX). A reply without a model shows the manual itself, so it reads the page a hit came from (the hit's
``source``: a Sphinx HTML page or a ``doc/src`` reStructuredText file) and splits it into the blocks a person
reads: whole paragraphs, tables with their rows, bullet lists, code, and math rendered as readable text
(pylatexenc). Pages that cannot be read give no sections; the caller falls back to the passage text.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

MAX_PAGE_BYTES = 2_000_000


@dataclass
class Block:
    kind: str  # para | table | list | code | math | note
    text: str  # Markdown as it is shown


@dataclass
class Section:
    name: str  # "" for the lead before the first heading; "Description", "Syntax", "Default", …
    blocks: list[Block] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------- math
@functools.lru_cache(maxsize=1)
def _latex():
    from pylatexenc.latex2text import LatexNodes2Text

    return LatexNodes2Text(math_mode="text", strict_latex_spaces=True)


def math_text(latex: str) -> str:
    """LaTeX as plain readable text: ``\\frac{m}{\\mathrm{damp}}`` → ``m/damp``, Greek letters as letters."""
    try:
        text = _latex().latex_to_text(latex)
    except Exception:  # noqa: BLE001 - odd LaTeX from a page must not break a reply; show it bare
        text = re.sub(r"\\[a-zA-Z]+|[{}]", " ", latex)
    text = text.replace("\xa0", " ")
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


# ------------------------------------------------------------------------------------------------- rst
_UNDERLINE = re.compile(r'^([=\-"^~*#+`:.\'_])\1{2,}\s*$')
_DIRECTIVE = re.compile(r"^\.\.\s+([\w-]+)::\s*(.*)$")
_CODE_DIRECTIVES = {"code-block", "parsed-literal", "code", "highlight"}
_BOLD_HEADING = re.compile(r"^\*\*([^*(][^*]*?):?\*\*:?$")  # "**RATTLE:**", not a citation's "**(Andersen)**"
_NOTE_DIRECTIVES = {"note", "warning", "important", "admonition", "tip", "seealso", "versionadded",
                    "versionchanged", "deprecated"}  # fmt: skip


def rst_inline(text: str) -> str:
    """Inline reStructuredText as Markdown: roles resolved, math rendered, emphasis kept."""
    text = re.sub(r"\.\.\s+parsed-literal::|\.\.\s+code-block::\s*\w+", "", text)  # a directive in a list item
    text = re.sub(r":math:`([^`]*)`", lambda m: math_text(m.group(1)), text)
    text = re.sub(r":\w+:`([^`<]*?)\s*<[^>]*>`_?", r"\1", text)  # :doc:`fix nvt <fix_nh>` -> fix nvt
    text = re.sub(r":\w+:`([^`]*)`", r"\1", text)
    text = re.sub(r"`([^`<]+?)\s*<[^>]*>`_+", r"\1", text)
    text = text.replace("``", "`").replace("\\ ", "").replace("\\*", "*").replace("\\^", "^")
    return text


def _grid_table(lines: list[str]) -> str:
    """A grid table (``+---+---+`` borders) as a Markdown table; cells spanning lines are joined."""
    rows: list[list[str]] = []
    current: list[str] | None = None
    header_rows = 0
    for line in lines:
        s = line.strip()
        if s.startswith("+"):
            if current is not None:
                rows.append(current)
                current = None
            if "=" in s and not header_rows:
                header_rows = len(rows)
            continue
        cells = [rst_inline(c.strip()) for c in s.strip("|").split("|")]
        if current is None:
            current = cells
        else:
            current = [f"{a} {b}".strip() for a, b in zip(current, cells, strict=False)]
    if current is not None:
        rows.append(current)
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    head = rows[0]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * width]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out)


def _simple_table(lines: list[str]) -> str:
    """A simple table (``=====  =====`` borders): columns from the border's runs."""
    border = lines[0]
    spans = [(m.start(), m.end()) for m in re.finditer(r"=+", border)]
    rows = []
    for line in lines[1:]:
        if _UNDERLINE.match(line.strip()) or not line.strip():
            continue
        cells = [line[a:b if i + 1 < len(spans) else None].strip() for i, (a, b) in enumerate(spans)]
        rows.append([rst_inline(c) for c in cells])
    if not rows:
        return ""
    width = len(spans)
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * width]
    return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows[1:]])


def _list_table(body: list[str]) -> str:
    """A ``list-table`` directive's body (``* - cell`` rows, ``  - cell`` cells) as a Markdown table."""
    rows: list[list[str]] = []
    for line in body:
        s = line.strip()
        if not s:
            continue
        if s.startswith("* -") or s == "*":
            rows.append([s[3:].strip()] if s != "*" else [])
        elif s.startswith("- ") or s == "-":
            if rows:
                rows[-1].append(s[2:].strip())
        elif rows and rows[-1]:
            rows[-1][-1] = f"{rows[-1][-1]} {s}".strip()
    rows = [[rst_inline(c).replace("|", "/") for c in r] for r in rows if r]
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * width]
    return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows[1:]])


def _indented(lines: list[str], i: int) -> tuple[list[str], int]:
    """The indented body that starts at line i (blank lines inside kept), and the index after it."""
    body = []
    while i < len(lines) and (not lines[i].strip() or lines[i][:1] in (" ", "\t")):
        body.append(lines[i])
        i += 1
    while body and not body[-1].strip():
        body.pop()
    while body and not body[0].strip():
        body.pop(0)
    pad = min((len(b) - len(b.lstrip()) for b in body if b.strip()), default=0)
    return [b[pad:] for b in body], i


def parse_rst(text: str) -> list[Section]:
    lines = text.splitlines()
    sections = [Section("")]
    levels: list[str] = []
    h2 = ""
    i = 0
    para: list[str] = []

    def flush() -> None:
        if para:
            joined = " ".join(p.strip() for p in para)
            bold = _BOLD_HEADING.match(joined)
            if bold:  # a paragraph that is only bold words ("**SHAKE vs RATTLE:**") heads what follows
                title = rst_inline(bold.group(1).strip())
                sections.append(Section(f"{h2} / {title}" if h2 else title))
                para.clear()
                return
            kind = "list" if re.match(r"^([*-]|\d+\.)\s", para[0].strip()) else "para"
            if kind == "list":
                items, cur = [], ""
                for p in para:
                    if re.match(r"^\s*([*-]|\d+\.)\s", p):
                        items.append(cur) if cur else None
                        cur = re.sub(r"^\s*([*-]|\d+\.)\s+", "", p)
                    else:
                        cur += " " + p.strip()
                items.append(cur)
                joined = "\n".join(f"- {rst_inline(it.strip())}" for it in items if it.strip())
                sections[-1].blocks.append(Block("list", joined))
            else:
                sections[-1].blocks.append(Block("para", rst_inline(joined)))
            para.clear()

    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and _UNDERLINE.match(nxt) and len(nxt.strip()) >= len(line.strip()) - 1:
            flush()
            char = nxt.strip()[0]
            if char not in levels:
                levels.append(char)
            level, title = levels.index(char) + 1, rst_inline(line.strip())
            if level == 2:
                h2 = title
                sections.append(Section(title))
            elif level > 2:
                sections.append(Section(f"{h2} / {title}" if h2 else title))
            i += 2
            continue
        m = _DIRECTIVE.match(line)
        if m:
            flush()
            name, arg = m.group(1), m.group(2)
            body, i = _indented(lines, i + 1)
            while body and re.match(r"^:[\w-]+:(\s|$)", body[0]):  # the directive's options
                body.pop(0)
            if name == "math":
                sections[-1].blocks.append(Block("math", math_text("\n".join(body or [arg]))))
            elif name in _CODE_DIRECTIVES:  # a parsed-literal block may carry roles (:doc:`…`)
                code = [rst_inline(b) for b in body] if name == "parsed-literal" else body
                sections[-1].blocks.append(Block("code", "\n".join(code)))
            elif name in _NOTE_DIRECTIVES:
                inner = parse_rst("\n".join(body))
                content = " ".join(b.text for s in inner for b in s.blocks)
                if content:
                    sections[-1].blocks.append(Block("note", f"_Note:_ {content}"))
            elif name == "list-table":
                table = _list_table(body)
                if table:
                    sections[-1].blocks.append(Block("table", table))
            continue
        if re.match(r"^\.\.(\s|$)", line):  # comments and link targets
            flush()
            _body, i = _indented(lines, i + 1)
            continue
        s = line.strip()
        if s.startswith("+-") and s.endswith("+"):
            flush()
            j = i
            while j < len(lines) and lines[j].strip()[:1] in ("+", "|"):
                j += 1
            sections[-1].blocks.append(Block("table", _grid_table(lines[i:j])))
            i = j
            continue
        if re.fullmatch(r"=+(\s+=+)+", s):
            flush()
            j = i + 1
            borders = 1
            while j < len(lines) and lines[j].strip() and borders < 3:
                borders += bool(re.fullmatch(r"=+(\s+=+)+", lines[j].strip()))
                j += 1
            sections[-1].blocks.append(Block("table", _simple_table(lines[i:j])))
            i = j
            continue
        if s == "----------" or not s:
            flush()
            i += 1
            continue
        if s.endswith("::") and not s.startswith(".."):  # paragraph followed by a literal block
            para.append(s[:-1] if s.endswith(":::") else s[:-2] + ":")
            flush()
            body, i = _indented(lines, i + 1)
            if body:
                sections[-1].blocks.append(Block("code", "\n".join(body)))
            continue
        if line[:1] in (" ", "\t") and not para:  # a definition's body (the error lists)
            body, i = _indented(lines, i)
            if body and _DIRECTIVE.match(body[0]):  # a directive inside a list item (a Syntax's keywords)
                for inner in parse_rst("\n".join(body)):
                    sections[-1].blocks.extend(inner.blocks)
                continue
            sections[-1].blocks.append(Block("para", rst_inline(" ".join(b.strip() for b in body))))
            continue
        para.append(line)
        i += 1
    flush()
    return [s for s in sections if s.blocks]


# ------------------------------------------------------------------------------------------------ html
def parse_html(html: str) -> list[Section]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")
    body = soup.find("div", attrs={"itemprop": "articleBody"}) or soup.find(attrs={"role": "main"}) or soup.body
    if body is None:
        return []
    for junk in body.find_all(["script", "style", "nav", "footer"]):
        junk.decompose()
    for junk in body.find_all("a", class_="headerlink"):
        junk.decompose()
    sections = [Section("")]
    h2 = ""

    def words(tag) -> str:
        for m in tag.find_all(class_="math"):
            m.replace_with(math_text(m.get_text().strip().strip("\\()[]")))
        return " ".join(tag.get_text(" ").split())

    for tag in body.find_all(["h1", "h2", "h3", "h4", "p", "table", "pre", "ul", "ol", "div", "dl"]):
        if any(p.name in ("table", "pre", "ul", "ol", "dl", "p") for p in tag.parents if p is not body):
            continue  # inside a block already taken whole
        name = tag.name
        if name in ("h1", "h2", "h3", "h4"):
            title = words(tag)
            if name == "h2":
                h2 = title
                sections.append(Section(title))
            elif name != "h1":
                sections.append(Section(f"{h2} / {title}" if h2 else title))
        elif name == "div" and "math" in tag.get("class", []):
            sections[-1].blocks.append(Block("math", math_text(tag.get_text().strip().strip("\\[]"))))
        elif name == "p":
            text = words(tag)
            strong = tag.find(["strong", "b"])
            if strong is not None and text and words(strong) == text and not text.startswith("("):
                sections.append(Section(f"{h2} / {text.rstrip(':')}" if h2 else text.rstrip(":")))
            elif text:
                sections[-1].blocks.append(Block("para", text))
        elif name == "pre":
            sections[-1].blocks.append(Block("code", tag.get_text().rstrip()))
        elif name in ("ul", "ol"):
            items = [words(li) for li in tag.find_all("li", recursive=False)]
            sections[-1].blocks.append(Block("list", "\n".join(f"- {it}" for it in items if it)))
        elif name == "table":
            rows = [[words(c) for c in tr.find_all(["td", "th"])] for tr in tag.find_all("tr")]
            rows = [r for r in rows if any(r)]
            if rows:
                width = max(len(r) for r in rows)
                rows = [r + [""] * (width - len(r)) for r in rows]
                md = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * width]
                sections[-1].blocks.append(Block("table", "\n".join(md + ["| " + " | ".join(r) + " |" for r in rows[1:]])))
        elif name == "dl":
            for dt in tag.find_all("dt", recursive=False):
                dd = dt.find_next_sibling("dd")
                sections[-1].blocks.append(Block("para", f"*{words(dt)}* — {words(dd) if dd else ''}"))
    return [s for s in sections if s.blocks]


@functools.lru_cache(maxsize=256)
def _read(path: str, mtime: float) -> tuple[Section, ...]:
    p = Path(path)
    data = p.read_bytes()[:MAX_PAGE_BYTES]
    text = data.decode("utf-8", errors="replace")
    if p.suffix.lower() == ".rst":
        return tuple(parse_rst(text))
    if p.suffix.lower() in (".html", ".htm"):
        return tuple(parse_html(text))
    return ()


def sections(source: str) -> list[Section]:
    """The page a hit came from, as sections of blocks; [] when it is not a readable manual page here."""
    try:
        p = Path(source)
        if not p.is_file():
            return []
        return list(_read(str(p), p.stat().st_mtime))
    except (OSError, ValueError):
        return []
