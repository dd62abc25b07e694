"""Markdown (what the brain writes) to Slack mrkdwn (what Slack shows), and into pieces Slack accepts.

Slack's mrkdwn is not Markdown: ``*bold*``, ``_italic_``, ``<url|text>`` links, no headings or tables, and
``&``, ``<``, ``>`` must be escaped everywhere. We parse with markdown-it (CommonMark + tables) and render
the syntax tree, so code spans and blocks stay verbatim and citation numbers are linked only in prose.
A section block holds at most 3000 characters: :func:`pieces` splits at block boundaries, and splits a long
code block into several fenced blocks rather than cutting it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

SECTION_LIMIT = 2900  # Slack allows 3000 characters per section block; leave room for fences
_CITE = re.compile(r"\[(\d{1,3})\]")

Linker = Callable[[int], str | None]  # citation number -> URL (None: leave the number plain)


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _parser():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _text(text: str, link: Linker | None) -> str:
    out = escape(text)
    if link is None:
        return out

    def cite(m: re.Match) -> str:
        url = link(int(m.group(1)))
        return f"<{url}|[{m.group(1)}]>" if url else m.group(0)

    return _CITE.sub(cite, out)


def _inline(node, link: Linker | None) -> str:
    parts = []
    for child in node.children:
        t = child.type
        if t == "text":
            parts.append(_text(child.content, link))
        elif t == "code_inline":
            parts.append(f"`{escape(child.content)}`")
        elif t in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif t == "strong":
            parts.append(f"*{_inline(child, link)}*")
        elif t == "em":
            parts.append(f"_{_inline(child, link)}_")
        elif t == "s":
            parts.append(f"~{_inline(child, link)}~")
        elif t in ("link", "image"):
            label = _inline(child, None) or escape(child.attrs.get("alt", "") or "")
            url = str(child.attrs.get("href") or child.attrs.get("src") or "")
            if url.lower().startswith(("https://", "http://", "mailto:")):
                safe_url = escape(url).replace("|", "%7C")
                parts.append(f"<{safe_url}|{label or safe_url}>")
            else:  # javascript:, slack:// and relative links are shown, not linked
                parts.append(f"{label} ({escape(url)})" if url and label else label or escape(url))
        elif t == "html_inline":
            parts.append(escape(child.content))
        elif child.children:
            parts.append(_inline(child, link))
        else:
            parts.append(escape(child.content))
    return "".join(parts)


def _fence(code: str) -> str:
    # Slack has no language tags; an empty line right after the fence would show, so none is added.
    return "```\n" + escape(code.rstrip("\n")) + "\n```"


def _table(node) -> str:
    rows = []
    for section in node.children:
        for tr in section.children:
            rows.append([_inline(cell.children[0], None) if cell.children else "" for cell in tr.children])
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(max(map(len, rows)))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in rows]
    if len(lines) > 1:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return "```\n" + "\n".join(lines) + "\n```"


def _block(node, link: Linker | None, indent: int = 0) -> str:
    t = node.type
    if t == "paragraph":
        return _inline(node.children[0], link)
    if t == "heading":
        return f"*{_inline(node.children[0], link)}*"
    if t in ("fence", "code_block"):
        return _fence(node.content)
    if t == "blockquote":
        inner = "\n".join(_block(c, link) for c in node.children)
        return "\n".join("> " + line for line in inner.splitlines())
    if t in ("bullet_list", "ordered_list"):
        start = int(node.attrs.get("start", 1) or 1)
        items = []
        for i, item in enumerate(node.children):
            mark = f"{start + i}." if t == "ordered_list" else ("•" if indent % 2 == 0 else "◦")
            body = [_block(c, link, indent + 1) for c in item.children]
            first, *rest = "\n".join(body).splitlines() or [""]
            pad = "    " * indent
            lines = [f"{pad}{mark} {first}"] + [
                line if line.startswith("    ") or line.startswith("```") else f"{pad}    {line}"
                for line in rest
            ]
            items.append("\n".join(lines))
        return "\n".join(items)
    if t == "hr":
        return "───"
    if t == "table":
        return _table(node)
    if t == "html_block":
        return escape(node.content.rstrip("\n"))
    return "\n".join(_block(c, link, indent) for c in node.children)


def blocks(markdown: str, link: Linker | None = None) -> list[str]:
    """The top-level blocks of ``markdown`` as mrkdwn strings, in order."""
    from markdown_it.tree import SyntaxTreeNode

    tree = SyntaxTreeNode(_parser().parse(markdown or ""))
    return [b for b in (_block(node, link) for node in tree.children) if b.strip()]


def to_mrkdwn(markdown: str, link: Linker | None = None) -> str:
    return "\n\n".join(blocks(markdown, link))


def _safe_cut(line: str, limit: int) -> int:
    """Where to cut an overlong line: at a space if one is near, never inside an ``&amp;``-style entity or
    a ``<url|label>`` link."""
    space = line.rfind(" ", limit * 4 // 5, limit)
    cut = space + 1 if space != -1 else limit
    amp = line.rfind("&", max(0, cut - 8), cut)
    if amp != -1 and ";" not in line[amp:cut]:
        cut = amp
    lt = line.rfind("<", 0, cut)
    if lt != -1 and ">" not in line[lt:cut] and lt > limit // 2:
        cut = lt
    return max(cut, 1)


def _split_long(block: str, limit: int) -> list[str]:
    """A block too long for one section, cut at line ends. A code block open at a cut is closed there and
    reopened in the next piece (also inside list items); an overlong line is cut where no entity or link
    breaks."""
    out: list[str] = []
    cur: list[str] = []
    size, in_fence = 0, False
    room = limit - 8  # for a closing and a reopening fence

    def flush(reopen: bool) -> None:
        nonlocal cur, size
        if cur:
            out.append("\n".join(cur) + ("\n```" if reopen else ""))
        cur = ["```"] if reopen else []
        size = 4 if reopen else 0

    for line in block.split("\n"):
        while len(line) > room:
            head = _safe_cut(line, room - size if room - size > room // 4 else room)
            if size and size + head > room:
                flush(in_fence)
                continue
            cur.append(line[:head])
            size += head + 1
            line = line[head:]
            flush(in_fence)
        if size + len(line) > room:
            flush(in_fence)
        cur.append(line)
        size += len(line) + 1
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
    if cur and cur != ["```"]:
        out.append("\n".join(cur))
    return out


def pieces(markdown: str, link: Linker | None = None, limit: int = SECTION_LIMIT) -> list[str]:
    """mrkdwn in pieces of at most ``limit`` characters, each a whole block or whole blocks joined."""
    return _pack(blocks(markdown, link), limit)


def pieces_of_mrkdwn(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Text that is already mrkdwn, in pieces (split at blank lines)."""
    return _pack([b for b in text.split("\n\n") if b.strip()], limit)


def _pack(blocks_: list[str], limit: int) -> list[str]:
    out: list[str] = []
    for block in blocks_:
        for part in _split_long(block, limit) if len(block) > limit else [block]:
            if out and len(out[-1]) + 2 + len(part) <= limit:
                out[-1] += "\n\n" + part
            else:
                out.append(part)
    return out
