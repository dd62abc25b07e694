"""A question's reply without a model: the manual's own paragraphs that answer it, cited.

What a newcomer reads first (no model endpoint is the default). The searcher finds the pages; this module
chooses what to show from them: the pages of the commands the question names (both, when it names two),
the Howto pages first for "which/how should I" questions, then the other hits; within each page the
blocks (whole paragraphs, tables, lists, from ``manual_page``) that carry the question's terms, Description
over Syntax, never the "Related commands" list, greedily so that a second term ("metal" after "real") gets
its own block. A page that cannot be read here shows its passage, whole, math rendered.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from .manual_page import Block, math_text, sections

if TYPE_CHECKING:
    from .configuration import Context

PAGE_CHARS = 1600  # of blocks shown per page
LONG_LIST = 1000  # characters of a list beyond which only its items on the question are shown
ADVICE_NOTE = 1.3  # a note's weight for "what should I use" questions: notes carry the manual's advice
FIRST_PROSE = 1.5
SEEN = 0.35
MORE = 0.85  # the least score of a further block on the same page  # what a term already shown counts for in another block
LEAD_CHARS = 60  # the start of a block that says what it is about ("For style *real*, these are…")
MAX_PAGES = 3
RELEVANT = 0.75  # a further page is shown when its excerpt has this share of the best one's question terms
ADVICE = re.compile(r"\b(which|what|how)\b.{0,40}\b(should|best|recommend|choose|pick|use)\b|\bhow (do|can) i\b", re.I)
# Single-word commands that are also plain English: a name only when the question writes it as code.
COMMON_WORDS = frozenset(
    "set run group mass label print clear include jump next log shell partition info quit if echo plugin "
    "python create delete change reset write read special box region variable compute fix dump balance "
    "displace replicate min".split()
)
STOP = frozenset(
    "a an the of to in on for with and or is are be do does i my me we you it this that what which how why "
    "when can should use using used get got difference between mean means meaning lammps command there "
    "their them into from by as at about set give make".split()
)
SECTION_WEIGHT = {
    "Description": 1.0, "": 0.9, "Overview": 0.9, "Default": 0.6, "Syntax": 0.35, "Examples": 0.4,
    "Restrictions": 0.3, "Related commands": 0.0,
}  # fmt: skip
KIND_WEIGHT = {"table": 1.25, "list": 1.1, "para": 1.0, "note": 0.8, "code": 0.6, "math": 0.4}
ASKS = {
    "Default": re.compile(r"\bdefault", re.I),
    "Syntax": re.compile(r"\b(arguments?|syntax|keywords?|parameters?|coefficients?|options?|args?|values?)\b", re.I),
    "Examples": re.compile(r"\b(example|how do i|how can i)\b", re.I),
    "Restrictions": re.compile(r"\b(restriction|cannot|can i|allowed|limit)", re.I),
}


@functools.lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def stems(text: str) -> set[str]:
    words = [w for w in re.findall(r"[a-z][a-z0-9/_-]*", text.lower()) if w not in STOP]
    found = set(_stemmer().stemWords(words))
    return found | {SYNONYMS[w] for w in found if w in SYNONYMS}


# What a question says one way and the manual another ("at 300 K" is a temperature).
SYNONYMS = {"k": "temperatur", "kelvin": "temperatur", "bar": "pressur", "atm": "pressur",
            "initi": "creat", "fs": "time", "ps": "time"}  # fmt: skip


def named(question: str, names: set[str]) -> list[str]:
    """Commands and styles the question names ("units", "fix nvt", "kspace_style pppm"), in its order;
    the longest name wins where two overlap ("fix nvt/sllod" over "fix nvt")."""
    q = question.lower()
    code = " ".join(re.findall(r"`([^`]+)`", q))
    found: list[tuple[int, int, str]] = []
    for name in names:
        if " " not in name and "_" not in name and "/" not in name and name in COMMON_WORDS:
            if not re.search(rf"(?<![\w/]){re.escape(name)}(?![\w/])", code):
                continue
        for m in re.finditer(rf"(?<![\w/]){re.escape(name)}(?![\w/])", q):
            found.append((m.start(), -len(name), name))
    out: list[str] = []
    end = -1
    for start, neg, name in sorted(found):
        if start >= end:
            if name not in out:
                out.append(name)
            end = start - neg
    return out


def _values_after(question: str, things: list[str]) -> set[str]:
    """The word after each named command ("units real" → "real"): the terms that tell two uses apart."""
    out = set()
    for thing in things:
        for m in re.finditer(rf"{re.escape(thing)}\s+([a-z][\w/]*)", question.lower()):
            if m.group(1) not in STOP:
                out.add(m.group(1))
    return set(_stemmer().stemWords(list(out))) if out else set()


def documenting(ctx: Context, name: str) -> dict | None:
    """The manual page that documents a command ("fix nvt" → fix_nh): the hit whose title names it, else
    the best hit for the name."""
    from .passages import search

    found, _ = search(ctx, name, 4, kinds={"manual"})
    title = re.compile(rf"^{re.escape(name)} command\b", re.I)
    return next((h for h in found if title.match(h["title"])), found[0] if found else None)


def _pages(ctx: Context, question: str, hits: list[dict]) -> list[dict]:
    """The hits to show, in order: Howto pages for advice questions, the named commands' pages, the rest."""

    chosen: list[dict] = []

    def add(h: dict) -> None:
        if h["doc_id"] not in {c["doc_id"] for c in chosen} and h.get("kind", "manual") in ("manual", "docs"):
            chosen.append(h)

    if ADVICE.search(question):
        for h in hits:
            if h["doc_id"].lower().startswith("howto"):
                add(h)
                break
    things = named(question, ctx.manual_names())[:3]
    for thing in things:
        add_page = documenting(ctx, thing)
        if add_page:
            add(add_page)
    if things and chosen:  # the pages of what the question names, and the best hit; the rest is noise
        for h in hits[:1]:
            add(h)
        return chosen[:MAX_PAGES]
    for h in hits:
        if len(chosen) >= MAX_PAGES:
            break
        add(h)
    return chosen[: MAX_PAGES + 1]


def _weight(section: str, question: str) -> float:
    top = section.split(" / ")[0]
    w = SECTION_WEIGHT.get(top, 0.8)
    asks = ASKS.get(top)
    if asks and asks.search(question):
        w = max(w, 1.1)
    return w


def _pick(
    blocks: list[tuple[str, int, Block]], terms: set[str], key: set[str], values: set[str], question: str
) -> list[int]:
    """Indexes of the blocks to show: greedy on terms not yet covered, within PAGE_CHARS."""
    block_stems = [stems(b.text) for _s, _i, b in blocks]
    covered: set[str] = set()
    shown_leads: set[str] = set()
    advice = bool(ADVICE.search(question))
    prose = [n for n, (sec, _i, b) in enumerate(blocks) if b.kind == "para"]
    first_prose = next((n for n in prose if blocks[n][0] == "Description"), prose[0] if prose else None)
    picked: list[int] = []
    used = 0
    while used < PAGE_CHARS:
        best, best_score = None, 0.0
        for n, (section, _i, b) in enumerate(blocks):
            if n in picked:
                continue
            found = block_stems[n] & terms
            new = found - covered
            hits = len(new) + len(new & key) * 2 + SEEN * len(found & covered)
            lead = stems(b.text[:LEAD_CHARS]) & values  # a block about one named value ("For style real…")
            if len(lead) == 1 and not lead <= shown_leads:
                hits += 3
            kind = KIND_WEIGHT.get(b.kind, 1.0) if not (b.kind == "note" and advice) else ADVICE_NOTE
            score = hits * _weight(section, question) * kind
            if len(b.text) < 60:
                score *= 0.5
            if n == first_prose:
                score += FIRST_PROSE  # a page's first paragraph says what the command is for
            if score > best_score:
                best, best_score = n, score
        if best is None or (picked and best_score < MORE):
            break
        picked.append(best)
        if blocks[best][0].split(" / ")[0] not in ("Syntax", "Examples"):  # a term is explained in prose
            covered |= block_stems[best] & terms
        lead = stems(blocks[best][2].text[:LEAD_CHARS]) & values
        if len(lead) == 1:
            shown_leads |= lead
        used += len(blocks[best][2].text)
    return picked


def _with_neighbours(blocks: list[tuple[str, int, Block]], picked: list[int]) -> list[int]:
    """A list, table or code block keeps the sentence that introduces it (``…these are the units:``), and a
    paragraph that introduces one keeps it."""
    out = set(picked)
    for n in picked:
        section, _i, b = blocks[n]
        if n > 0 and b.kind in ("list", "table", "code", "math"):
            prev = blocks[n - 1]
            if prev[0] == section and prev[2].text.rstrip().endswith(":"):
                out.add(n - 1)
        if b.text.rstrip().endswith(":") and n + 1 < len(blocks) and blocks[n + 1][0] == section:
            out.add(n + 1)
    return sorted(out)


def _trim(block: Block, terms: set[str]) -> str:
    """A long list keeps the items that carry the question's terms (a few, else its first ones)."""
    if block.kind != "list" or len(block.text) <= LONG_LIST:
        return block.text
    items = block.text.splitlines()
    keep = [it for it in items if stems(it) & terms][:8] or items[:6]
    return "\n".join(keep) + f"\n- … ({len(items) - len(keep)} more)"


def page_excerpt(hit: dict, question: str, terms: set[str], key: set[str], values: set[str]) -> str:
    """What to show of one page: its chosen blocks in page order, or the hit's passage when unreadable."""
    blocks = [(s.name, i, b) for s in sections(hit.get("source", "")) for i, b in enumerate(s.blocks)]
    blocks = [
        x for x in blocks
        if SECTION_WEIGHT.get(x[0].split(" / ")[0], 0.8) > 0 and not x[2].text.startswith("Accelerator Variant")
    ]  # fmt: skip
    if not blocks:
        text = re.sub(r"\\\(|\\\)", "", hit["text"])
        return math_text(text) if "\\" in text else text
    asked = [n for n, (section, _i, _b) in enumerate(blocks)
             if section.split(" / ")[0] in ASKS and ASKS[section.split(" / ")[0]].search(question)]  # fmt: skip
    if hit["doc_id"].lower().startswith("howto"):  # a page on the topic: its paragraphs in order
        upto, used = 0, 0
        while upto < len(blocks) and used < PAGE_CHARS:
            used += len(blocks[upto][2].text)
            upto += 1
        chosen = set(range(upto))
    else:
        chosen = set(asked[:4]) | set(_pick(blocks, terms, key, values, question))
    picked = _with_neighbours(blocks, sorted(chosen))
    if not picked:
        picked = [0]
    parts = []
    for n in picked:
        b = blocks[n][2]
        parts.append(f"```\n{b.text}\n```" if b.kind == "code" else _trim(b, terms))
    return "\n\n".join(parts)


def offline_reply(ctx: Context, question: str, hits: list[dict], why: str) -> tuple[str, list[dict]]:
    """(the reply in Markdown, the pages it cites in order) for a question without a model."""
    pages = _pages(ctx, question, hits)
    if not pages:
        return "", []
    things = named(question, ctx.manual_names())
    terms = stems(question)
    values = _values_after(question, things)
    key = values  # the named commands' own words are on every block of their page: no weight there
    shown = [(hit, page_excerpt(hit, question, terms, key, values)) for hit in pages]
    overlap = [len(stems(text) & terms) for _hit, text in shown]
    keep = shown  # the pages of what the question names are shown; other pages only when they are as close
    if not things:
        keep = [x for i, (x, o) in enumerate(zip(shown, overlap, strict=True)) if i == 0 or o >= RELEVANT * max(overlap)]
    lines = [f"_{why[0].upper() + why[1:]}, so here is what the manual says:_"]
    for n, (hit, text) in enumerate(keep, 1):
        lines.append(f"**{hit['title']}** [{n}]\n\n{text}")
    return "\n\n".join(lines), [hit for hit, _text in keep]
