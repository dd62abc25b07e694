"""A question's reply without a model: the manual's own paragraphs that answer it, cited.

What a newcomer reads first (no model endpoint is the default). The searcher finds the pages; this module
chooses what to show from them.

Pages: the pages of the commands the question names (both, when it names two), the Howto page first for
"which/how should I" questions, then the search's best hit. When the question names no command: the best
hit, then the others in the search's order, except that a page whose Syntax offers a word of the question
as a style or keyword (``lattice``: *fcc*; ``thermo_modify``: *lost*, *ignore*) comes first and is shown
even when its excerpt carries fewer of the question's words than the best page's.

Blocks (whole paragraphs, tables, lists, code, from ``manual_page``), greedily on the question's words not yet
shown, within a budget per page:

- Description over Syntax, never the "Related commands" list; a command's own name is no evidence on its own
  page (it is in every paragraph there), nor is a generic word ("value", "parameter") enough for a bonus.
- The passage the search ranked best on the page (the hit's text) counts extra: it is where the question's
  meaning, not only its words, was found.
- A paragraph under a sub-heading that names the question's words ("**SHAKE vs RATTLE:**") counts extra.
- The things a question sets side by side (the word after a command, "units *real*"; the two sides of
  "between A and B" or "A vs B"; the items of "p, f, s and m") each get the paragraph that is about it (one
  that starts by naming it), past the budget if need be; a paragraph that starts by defining a word of the
  question ("The *create* style generates …") counts extra.
- "Which/what should I use" questions favour the manual's advice ("a good choice is …"), "how do I"
  questions its instructions ("the simplest way … is to use …") and the command's usage line; "what
  sections/arguments …" questions the lists and tables of them; a command quoted with numbers
  ("special_bonds lj/coul 0.0 0.0 0.5") the paragraph that goes through values by position ("the first …,
  the third …").
- A long list, table or Syntax listing keeps the items, rows or entries on the question (its length as
  shown is what the budget counts); a short sentence that introduces a list keeps it.

A page that cannot be read here shows its passage, whole, math rendered.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from .manual_page import Block, math_text, sections

if TYPE_CHECKING:
    from .configuration import Context

PAGE_CHARS = 1600  # of blocks shown per page
EXTRA_CHARS = 1600  # past PAGE_CHARS: only blocks about a thing the question sets side by side, not shown yet
LONG_LIST = 1000  # characters of a list beyond which only its items on the question are shown
LONG_CODE = 700  # characters of a Syntax listing beyond which only its entries on the question are shown
ADVICE_NOTE = 1.3  # a note's weight for "what should I use" questions: notes carry the manual's advice
FIRST_PROSE = 1.5  # a page's first paragraph says what the command is for
SEEN = 0.35  # what a term already shown counts for in another block
MORE = 0.85  # the least score of a further block on the same page
PASSAGE = 1.5  # a block of the passage the search ranked best on the page
HEADING = 2.0  # a block under a sub-heading that names the question's words
GUIDANCE = 1.5  # a block that gives the advice or the instructions the question asks for
LEAD = 3.0  # a block that starts by naming one of the things the question sets side by side
DEFINES = 2.0  # a block that starts by defining a word of the question ("The *create* style …")
LEAD_WORDS = 4  # the start of a block that says what it is about ("For style real, these are…")
SAME_CHARS = 60  # letters and digits of a block that show it is in the search's passage
INTRO_CHARS = 120  # a one-sentence paragraph this short before a list introduces it
MAX_PAGES = 3
CANDIDATES = 10  # hits weighed when the question names no command
RELEVANT = 0.75  # a further page is shown when its excerpt has this share of the best one's question terms
ADVICE = re.compile(r"\b(which|what|how)\b.{0,40}\b(should|best|recommend|choose|pick|use)\b|\bhow (do|can) i\b", re.I)
HOW = re.compile(r"\bhow (do|can|should|would) (i|you|we)\b|\bhow to\b", re.I)
ADVISES = re.compile(
    r"\b(a good (choice|value|idea|rule)|good choices?|recommended|we recommend|is recommended|reasonable (value|choice)"
    r"|is best|it is best|should (typically|usually|normally) be|a typical value|typical values?)\b",
    re.I,
)
INSTRUCTS = re.compile(
    r"\b(the (simplest|easiest|usual|standard|best) way|a (simple|convenient|common) way|is to use|can be used to"
    r"|(this|that|it) (is|can be) done (by|with|via|using))\b",
    re.I,
)
# "What sections/arguments/styles …": the question asks for a list of things of that name.
LIST_ASKED = re.compile(r"\b(?:what|which)\s+(?:are\s+the\s+|are\s+|do\s+the\s+)?([a-z]+s)\b", re.I)
# A command quoted with two or more numbers ("special_bonds lj/coul 0.0 0.0 0.5"): what each value means.
QUOTED_VALUES = re.compile(r"[a-z_/]+(?:\s+[a-z_/]+)?(?:\s+-?\d[\d.e+-]*){2,}", re.I)
BY_POSITION = re.compile(r"\b(first|1st)\b.{0,400}\b(second|2nd|third|3rd|last)\b", re.I | re.S)
# Single-word commands that are also plain English: a name only when the question writes it as code.
COMMON_WORDS = frozenset(
    "set run group mass label print clear include jump next log shell partition info quit if echo plugin "
    "python create delete change reset write read special box region variable compute fix dump balance "
    "displace replicate min".split()
)
STOP = frozenset(
    "a an the of to in on for with and or is are be do does i my me we you it this that what which how why "
    "when can should use using used get got difference between mean means meaning lammps command there "
    "their them into from by as at about set give make have has had every each some only all any other".split()
)
# Words after a command that say what kind of thing is asked about, not which one ("boundary styles").
GENERIC = frozenset(
    "style styles command commands file files keyword keywords option options parameter parameters argument "
    "arguments value values setting settings section sections format".split()
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
    "Restrictions": re.compile(r"\b(restriction|cannot|(?<!how )can i|allowed|limit)", re.I),
}


@functools.lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


@functools.lru_cache(maxsize=65536)
def _stems(text: str, parts: bool = False) -> frozenset[str]:
    text = re.sub(r"\b(e\.\s?g|i\.\s?e|cf)\.", " ", text.lower())  # not the letters "g" and "e"
    words = [w for w in re.findall(r"[a-z][a-z0-9/_-]*(?:\([a-z0-9]{1,3}\))?", text) if w not in STOP]
    if parts:  # a page's "create_atoms" also says "create"
        words += [p for w in words if "_" in w for p in w.split("_") if p and p not in STOP]
    found = set(_stemmer().stemWords(words))
    return frozenset(found | {SYNONYMS[w] for w in found if w in SYNONYMS})


def stems(text: str) -> set[str]:
    """A question's words, stemmed, without the small words."""
    return set(_stems(text))


def page_stems(text: str) -> frozenset[str]:
    """A page's words as :func:`stems`, a compound name's parts included ("create_atoms": "create")."""
    return _stems(text, True)


# What a question says one way and the manual another ("at 300 K" is a temperature).
SYNONYMS = {"k": "temperatur", "kelvin": "temperatur", "bar": "pressur", "atm": "pressur",
            "initi": "creat", "fs": "time", "ps": "time"}  # fmt: skip


NAME_WORDS = 5  # the most words in a command or style name ("pair_style lj/cut/coul/long" is 2)


def named(question: str, names: set[str]) -> list[str]:
    """Commands and styles the question names ("units", "fix nvt", "kspace_style pppm"), in its order;
    the longest name wins where two overlap ("fix nvt/sllod" over "fix nvt")."""
    q = question.lower()
    code = {w for span in re.findall(r"`([^`]+)`", q) for w in re.findall(r"[\w/]+", span)}
    words = list(re.finditer(r"[\w/]+", q))  # names are words of [\w/] joined by single spaces
    found: list[tuple[int, int, str]] = []
    for i, first in enumerate(words):
        name = ""
        for j in range(i, min(i + NAME_WORDS, len(words))):
            if j > i and q[words[j - 1].end() : words[j].start()] != " ":
                break
            name = f"{name} {words[j].group()}" if name else words[j].group()
            if name in names and (j > i or name not in COMMON_WORDS or name in code):
                found.append((first.start(), -len(name), name))
    out: list[str] = []
    end = -1
    for start, neg, name in sorted(found):
        if start >= end:
            if name not in out:
                out.append(name)
            end = start - neg
    return out


_WORD = r"[\w/.+-]*\w"
_CONTRAST = re.compile(
    rf"\bbetween\s+(.+?)\s+and\s+(.+?)(?=\s+(?:in|for|of|with|when|if|on)\b|[?.,;:!]|$)"
    rf"|({_WORD})\s+(?:vs\.?|versus)\s+({_WORD})",
    re.I,
)
_ENUMERATION = re.compile(rf"\b({_WORD}(?:\s*,\s*{_WORD})+)\s*,?\s+(?:and|or)\s+({_WORD})", re.I)


def side_by_side(question: str, things: list[str]) -> set[str]:
    """The stems of what a question sets side by side, each to be shown in its own paragraph: the word after
    each named command ("units real" → real), the two sides of a contrast ("between SHAKE and RATTLE",
    "iso vs aniso": the last word of each side), the items of an enumeration ("p, f, s and m")."""
    q = question.replace("`", "")
    out: list[str] = []
    for thing in things:
        for m in re.finditer(rf"{re.escape(thing)}\s+([a-z][\w/]*)", q.lower()):
            out.append(m.group(1))
    for m in _CONTRAST.finditer(q):
        sides = [s for s in m.groups() if s]
        out += [s.split()[-1] for s in sides if s.split()]
    for m in _ENUMERATION.finditer(q):
        out += [w.strip() for w in m.group(1).split(",")] + [m.group(2)]
    words = [w.lower().strip(".") for w in out]
    words = [w for w in words if w and w not in STOP and w not in GENERIC and not re.fullmatch(r"[\d.]+", w)]
    return set(_stemmer().stemWords(words)) if words else set()


def documenting(ctx: Context, name: str) -> dict | None:
    """The manual page that documents a command ("fix nvt" → fix_nh): the hit whose title names it, else
    the best hit for the name."""
    from .passages import search

    found, _ = search(ctx, name, 4, kinds={"manual"})
    title = re.compile(rf"^{re.escape(name)} command\b", re.I)
    return next((h for h in found if title.match(h["title"])), found[0] if found else None)


# ------------------------------------------------------------------------------------------------ pages
def _blocks(hit: dict) -> list[tuple[str, int, Block]]:
    """The page's blocks that may be shown: (section, index in section, block)."""
    blocks = [(s.name, i, b) for s in sections(hit.get("source", "")) for i, b in enumerate(s.blocks)]
    return [
        x for x in blocks
        if SECTION_WEIGHT.get(x[0].split(" / ")[0], 0.8) > 0 and not x[2].text.startswith("Accelerator Variant")
    ]  # fmt: skip


def _pages(ctx: Context, question: str, hits: list[dict]) -> list[dict]:
    """The hits to show, in order: Howto pages for advice questions, the named commands' pages (with what
    the question's own search found on them), the best hit; else the best hit and the next ones, those whose
    Syntax offers a word of the question first."""
    asked = {h["doc_id"]: {**h, "asked": True} for h in hits}  # the question's own passage on each page
    chosen: list[dict] = []

    def add(h: dict, thing: str = "") -> None:
        if h.get("kind", "manual") not in ("manual", "docs"):
            return
        page = next((c for c in chosen if c["doc_id"] == h["doc_id"]), None)
        if page is None:
            page = {**h, **asked.get(h["doc_id"], {}), "names": []}
            chosen.append(page)
        if thing:
            page["names"].append(thing)

    if ADVICE.search(question):
        for h in hits:
            if h["doc_id"].lower().startswith("howto"):
                add(h)
                break
    things = named(question, ctx.manual_names())[:3]
    for thing in things:
        page = documenting(ctx, thing)
        if page:
            add(page, thing)
    if things and chosen:  # the pages of what the question names, and the best hit; the rest is noise
        for h in hits[:1]:
            add(h)
        return chosen[:MAX_PAGES]
    if hits:
        add(hits[0])
    if len(hits) > 1:
        # the rest in the search's order, except that a page whose Syntax offers a word of the question as
        # a style or keyword ("lattice": *fcc*; "thermo_modify": *lost*, *ignore*) names what is asked
        from .passages import search

        more, _ = search(ctx, question, CANDIDATES)
        seen = {c["doc_id"] for c in chosen}
        rest = list({h["doc_id"]: h for h in hits[1:] + more if h["doc_id"] not in seen}.values())
        terms = stems(question)
        offers = [len(_offers(h, terms)) for h in rest]
        ranked = sorted(range(len(rest)), key=lambda n: (-offers[n], n))
        for n in ranked:
            if len(chosen) >= MAX_PAGES:
                break
            add({**rest[n], "asked": True, "offers": offers[n]})
    return chosen[: MAX_PAGES + 1]


def _offers(hit: dict, terms: set[str]) -> set[str]:
    """The question's words that the page's Syntax offers as a style, keyword or value (``*fcc*``)."""
    offered: set[str] = set()
    for section, _i, b in _blocks(hit):
        if section == "Syntax" and b.kind in ("list", "code"):
            offered |= {w.lower() for w in re.findall(r"\*([a-z][\w/-]{2,})\*", b.text, re.I)}
    return set(_stemmer().stemWords(sorted(offered))) & terms if offered else set()


# ----------------------------------------------------------------------------------------------- blocks
def _weight(section: str, question: str) -> float:
    top = section.split(" / ")[0]
    w = SECTION_WEIGHT.get(top, 0.8)
    asks = ASKS.get(top)
    if asks and asks.search(question):
        w = max(w, 1.1)
    return w


def _letters(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def _in_passage(blocks: list[tuple[str, int, Block]], passage: str) -> set[int]:
    """The prose blocks that the search's passage on this page holds: the block starts inside the passage,
    or the passage starts inside the block (compared on letters and digits only: markup differs)."""
    have = _letters(passage)
    out = set()
    for n, (_s, _i, b) in enumerate(blocks):
        text = _letters(b.text.removeprefix("_Note:_"))
        if b.kind in ("para", "note", "list", "table") and len(text) >= 40 and (
            text[:SAME_CHARS] in have or have[:SAME_CHARS] in text
        ):
            out.add(n)
    return out


def _pick(
    blocks: list[tuple[str, int, Block]],
    terms: set[str],
    key: set[str],
    values: set[str],
    question: str,
    passage: set[int],
) -> list[int]:
    """Indexes of the blocks to show: greedy on terms not yet covered, within PAGE_CHARS (and EXTRA_CHARS
    for the blocks about a thing set side by side that has none yet)."""
    block_stems = [page_stems(b.text) for _s, _i, b in blocks]
    sizes = [len(trim_block(b, s, terms)) for s, _i, b in blocks]  # as shown: a long list or listing is cut
    heading_terms = [_stems(s.split(" / ", 1)[1]) & terms if " / " in s else frozenset() for s, _i, _b in blocks]
    leads = [stems(_lead(b.text)) & values for _s, _i, b in blocks]
    # a block that starts by defining a word of the question ("The *create* style generates …")
    defines = [_stems(_defined(_lead(b.text))) & terms for _s, _i, b in blocks]
    listed = {_stemmer().stemWord(m.group(1).lower()) for m in LIST_ASKED.finditer(question)}
    positional = bool(QUOTED_VALUES.search(question))
    generic = _generic_stems()
    covered: set[str] = set()
    shown_leads: set[str] = set()
    advice = bool(ADVICE.search(question))
    how = bool(HOW.search(question))
    guidance = ADVISES if advice and not how else INSTRUCTS if how else None
    prose = [n for n, (sec, _i, b) in enumerate(blocks) if b.kind == "para"]
    first_prose = next((n for n in prose if blocks[n][0] == "Description"), prose[0] if prose else None)
    picked: list[int] = []
    used = 0
    while used < PAGE_CHARS + EXTRA_CHARS:
        best, best_score = None, 0.0
        for n, (section, _i, b) in enumerate(blocks):
            if n in picked:
                continue
            lead = leads[n]
            about_new = len(lead) == 1 and not lead <= shown_leads  # a block about one thing not shown yet
            if used >= PAGE_CHARS and not about_new:
                continue
            found = block_stems[n] & terms
            new = found - covered
            hits = len(new) + len(new & key) * 2 + SEEN * len(found & covered)
            if about_new:
                hits += LEAD
            elif len(defines[n]) == 1 and not defines[n] <= shown_leads:
                hits += DEFINES
            if listed and b.kind in ("list", "table") and listed & block_stems[n]:
                hits += GUIDANCE
            if positional and b.kind == "para" and BY_POSITION.search(b.text):
                hits += GUIDANCE
            specific = bool(found - generic)  # a bonus needs one of the question's own words, not "value"
            if specific and n in passage:
                hits += PASSAGE
            if heading_terms[n] and len(heading_terms[n]) >= min(2, len(terms)):
                hits += HEADING
            if specific and guidance is not None and guidance.search(b.text):
                hits += GUIDANCE
            kind = KIND_WEIGHT.get(b.kind, 1.0) if not (b.kind == "note" and advice) else ADVICE_NOTE
            score = hits * _weight(section, question) * kind
            if len(b.text) < 60:
                score *= 0.5
            if n == first_prose:
                score += FIRST_PROSE
            if score > best_score:
                best, best_score = n, score
        if best is None or (picked and best_score < MORE):
            break
        picked.append(best)
        if blocks[best][0].split(" / ")[0] not in ("Syntax", "Examples"):  # a term is explained in prose
            covered |= block_stems[best] & terms
        if len(leads[best]) == 1:
            shown_leads |= leads[best]
        if len(defines[best]) == 1:
            shown_leads |= defines[best]
        used += sizes[best]
    return picked


@functools.lru_cache(maxsize=1)
def _generic_stems() -> frozenset[str]:
    return frozenset(_stemmer().stemWords(sorted(GENERIC)))


def _lead(text: str) -> str:
    """The first words of a block, where it says what it is about ("The keyword *aniso* means")."""
    return " ".join(text.removeprefix("_Note:_").split()[:LEAD_WORDS])


def _defined(lead: str) -> str:
    """The word a block starts by defining: the one emphasized word of its start ("The *create* style …" →
    create; none for "The styles *f*, *s*, and *m* mean …")."""
    found = re.findall(r"\*([^*\s][^*]*?)\*", lead)
    return found[0] if len(found) == 1 else ""


def _with_neighbours(blocks: list[tuple[str, int, Block]], picked: list[int]) -> list[int]:
    """A list, table or code block keeps the sentence that introduces it (``…these are the units:``), and a
    paragraph that introduces one keeps it."""
    out = set(picked)
    for n in picked:
        section, _i, b = blocks[n]
        if n > 0 and b.kind in ("list", "table", "code", "math"):
            prev = blocks[n - 1]
            if prev[0] == section and _introduces(prev[2]):
                out.add(n - 1)
        if n + 1 < len(blocks) and blocks[n + 1][0] == section and (
            b.text.rstrip().endswith(":") or (_introduces(b) and blocks[n + 1][2].kind in ("list", "table"))
        ):
            out.add(n + 1)
    return sorted(out)


def _introduces(block: Block) -> bool:
    """A paragraph that introduces the list, table or code after it: it ends with a colon, or it is one
    short sentence ("These are the section keywords for the body of the file.")."""
    text = block.text.rstrip()
    return block.kind == "para" and (text.endswith(":") or (len(text) < INTRO_CHARS and text.count(". ") == 0))


def _entries(lines: list[str]) -> list[list[str]]:
    """A Syntax listing's entries: a line at the listing's least indent and the deeper lines under it."""
    indent = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
    out: list[list[str]] = []
    for line in lines:
        if not out or (line.strip() and len(line) - len(line.lstrip()) <= indent):
            out.append([line])
        else:
            out[-1].append(line)
    return out


def trim_block(block: Block, section: str, terms: set[str]) -> str:
    """A long list keeps the items that carry the question's terms (a few, else its first ones); a long
    Syntax listing the entries that do (else its first lines)."""
    if block.kind == "code" and section.startswith("Syntax") and len(block.text) > LONG_CODE:
        lines = block.text.splitlines()
        head, body = (lines[:1], lines[1:]) if len(lines) > 1 and len(lines[0]) > 150 else ([], lines)
        entries = _entries(body)
        keep = [e for e in entries if stems(" ".join(e)) & terms][:8]
        if not keep:
            keep = entries[:6]
        shown = [line for e in keep for line in e]
        rest = len(entries) - len(keep)
        if head:
            first = head[0]
            shown = [first if len(first) <= 150 else first[:first.rfind(" or ", 0, 150)] + " or …", *shown]
        return "\n".join(shown) + (f"\n… ({rest} more)" if rest else "")
    if block.kind == "table" and len(block.text) > LONG_LIST:  # its header and the rows on the question
        head, rows = block.text.splitlines()[:2], block.text.splitlines()[2:]
        keep = [r for r in rows if page_stems(r) & terms][:8] or rows[:6]
        rest = len(rows) - len(keep)
        return "\n".join(head + keep) + (f"\n| … ({rest} more rows) |" if rest else "")
    if block.kind != "list" or len(block.text) <= LONG_LIST:
        return block.text
    items = block.text.splitlines()
    keep = [it for it in items if stems(it) & terms][:8] or items[:6]
    return "\n".join(keep) + f"\n- … ({len(items) - len(keep)} more)"


def _usage(blocks: list[tuple[str, int, Block]]) -> list[int]:
    """A command's usage: its Syntax's first code line and the argument list under it."""
    syntax = [n for n, (s, _i, _b) in enumerate(blocks) if s == "Syntax"]
    out = syntax[:1]
    if len(syntax) > 1 and blocks[syntax[1]][2].kind == "list":
        out.append(syntax[1])
    return out


def page_excerpt(
    hit: dict, question: str, terms: set[str], key: set[str], values: set[str], usage: bool = False
) -> str:
    """What to show of one page: its chosen blocks in page order, or the hit's passage when unreadable."""
    blocks = _blocks(hit)
    if not blocks:
        text = re.sub(r"\\\(|\\\)", "", hit["text"])
        return math_text(text) if "\\" in text else text
    own = set().union(*(_stems(name) for name in hit.get("names", []))) if hit.get("names") else set()
    terms = terms - own if terms - own else terms
    asked = [n for n, (section, _i, _b) in enumerate(blocks)
             if section.split(" / ")[0] in ASKS and ASKS[section.split(" / ")[0]].search(question)]  # fmt: skip
    if hit["doc_id"].lower().startswith("howto"):  # a page on the topic: its paragraphs in order
        upto, used = 0, 0
        while upto < len(blocks) and used < PAGE_CHARS:
            used += len(blocks[upto][2].text)
            upto += 1
        chosen = set(range(upto))
    else:
        passage = _in_passage(blocks, hit["text"]) if hit.get("asked") else set()
        chosen = set(asked[:4]) | set(_pick(blocks, terms, key, values, question, passage))
        if usage:
            chosen |= set(_usage(blocks))
    picked = _with_neighbours(blocks, sorted(chosen))
    if not picked:
        picked = [0]
    parts = []
    for n in picked:
        section, _i, b = blocks[n]
        text = trim_block(b, section, terms)
        parts.append(f"```\n{text}\n```" if b.kind == "code" else text)
    return "\n\n".join(parts)


def offline_reply(ctx: Context, question: str, hits: list[dict], why: str) -> tuple[str, list[dict]]:
    """(the reply in Markdown, the pages it cites in order) for a question without a model."""
    pages = _pages(ctx, question, hits)
    if not pages:
        return "", []
    things = named(question, ctx.manual_names())
    terms = stems(question)
    values = side_by_side(question, things)
    key = values  # the named commands' own words are on every block of their page: no weight there
    first_command = next((p["doc_id"] for p in pages if not p["doc_id"].lower().startswith("howto")), None)
    how = bool(HOW.search(question))
    shown = [
        (hit, page_excerpt(hit, question, terms, key, values, usage=how and hit["doc_id"] == first_command))
        for hit in pages
    ]
    overlap = [len(page_stems(text) & terms) for _hit, text in shown]
    keep = shown  # the pages of what the question names are shown; other pages when they are as close, or
    if not things:  # when they offer a word of the question as a style or keyword
        keep = [
            x for n, (x, o) in enumerate(zip(shown, overlap, strict=True))
            if n == 0 or x[0].get("offers") or o >= RELEVANT * max(overlap)
        ]  # fmt: skip
    lines = [f"_{why[0].upper() + why[1:]}, so here is what the manual says:_"]
    for n, (hit, text) in enumerate(keep, 1):
        lines.append(f"**{hit['title']}** [{n}]\n\n{text}")
    return "\n\n".join(lines), [hit for hit, _text in keep]
