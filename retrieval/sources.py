"""Sources other than the manual: example input scripts, the potential-file catalog, the lab's documents."""

from __future__ import annotations

import re
from pathlib import Path

from .documents import Chunk, split_text

CHUNK_CHARS = 1000
ELEMENTS = frozenset(
    """H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr
    Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu
    Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No Lr""".split()
)

# ---------------------------------------------------------------------------------------------- examples

_STYLE_CMDS = {
    "pair_style",
    "bond_style",
    "angle_style",
    "dihedral_style",
    "improper_style",
    "kspace_style",
    "atom_style",
    "min_style",
    "run_style",
}
_ID_STYLE_CMDS = {"fix": 3, "compute": 3, "dump": 3}


def script_commands(text: str) -> list[str]:
    """Command and style names an input script uses (``fix nvt``, ``pair_style lj/cut``, ``read_data``)."""
    found: list[str] = []
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        cmd = words[0]
        if cmd in _STYLE_CMDS and len(words) > 1:
            found.append(f"{cmd} {words[1]}")
        elif cmd in _ID_STYLE_CMDS and len(words) > _ID_STYLE_CMDS[cmd]:
            found.append(f"{cmd} {words[_ID_STYLE_CMDS[cmd]]}")
        elif re.fullmatch(r"[a-z_]+", cmd):
            found.append(cmd)
    return list(dict.fromkeys(found))


def is_input_script(path: Path) -> bool:
    return path.name.startswith("in.") or path.suffix in (".in", ".lmp", ".lammps")


def parse_example(path: Path, root: Path) -> list[Chunk]:
    """An input script (or a README next to scripts) as example chunks."""
    text = path.read_text(errors="replace")
    rel = path.relative_to(root) if path.is_relative_to(root) else Path(path.name)
    folder = rel.parent.as_posix() if rel.parent.as_posix() != "." else root.name
    doc_id = f"examples/{folder}/{path.name}"
    if path.name.upper().startswith("README"):
        title, commands = f"README of example {folder}", []
    else:
        title, commands = f"Example input {path.name} ({folder})", script_commands(text)
    return [
        Chunk(
            doc_id,
            title,
            "Input script" if commands else "README",
            piece,
            str(path.resolve()),
            "examples",
            commands,
            i,
        )
        for i, piece in enumerate(split_text(text, CHUNK_CHARS * 2))
    ]


# -------------------------------------------------------------------------------------------- potentials

PAIR_STYLE_BY_SUFFIX = [
    (".eam.alloy", "eam/alloy"),
    (".eam.fs", "eam/fs"),
    (".eam.he", "eam/he"),
    (".setfl", "eam/alloy"),
    (".cdeam", "eam/cd"),
    (".eam", "eam"),
    (".adp", "adp"),
    (".meam.spline", "meam/spline"),
    (".meam.sw.spline", "meam/sw/spline"),
    (".msmeam", "meam"),
    (".meam", "meam"),
    (".tersoff.mod.c", "tersoff/mod/c"),
    (".tersoff.modc", "tersoff/mod/c"),
    (".tersoff.mod", "tersoff/mod"),
    (".tersoff.zbl", "tersoff/zbl"),
    (".tersoff", "tersoff"),
    (".sw.mod", "sw/mod"),
    (".sw", "sw"),
    (".airebo-m", "airebo/morse"),
    (".airebo", "airebo"),
    (".rebo", "rebo"),
    (".bop.table", "bop"),
    (".bop", "bop"),
    (".comb3", "comb3"),
    (".comb", "comb"),
    (".reax", "reaxff"),
    (".reaxff", "reaxff"),
    (".snapcoeff", "snap"),
    (".snapparam", "snap"),
    (".snap", "snap"),
    (".mliap", "mliap"),
    (".pod", "pod"),
    (".extep", "extep"),
    (".vashishta", "vashishta"),
    (".poly", "polymorphic"),
    (".lcbop", "lcbop"),
    (".edip", "edip"),
    (".gw.zbl", "gw/zbl"),
    (".gw", "gw"),
    (".nb3b.harmonic", "nb3b/harmonic"),
    (".nb3b.shifted", "nb3b/shifted"),
    (".smtbq", "smtbq"),
    (".table", "table"),
    (".agni", "agni"),
    (".bond", "bond"),
    (".mgpt", "mgpt"),
    (".uf3", "uf3"),
    (".lj", "lj"),
    (".kim", "kim"),
    (".coul", "coul"),
    (".qeq", "qeq"),
    (".drip", "drip"),
    (".ilp", "ilp"),
    (".KC", "kolmogorov/crespi"),
    (".lebedeva", "lebedeva/z"),
    (".eim", "eim"),
    (".bmh", "born"),
]


def guess_pair_style(name: str) -> str | None:
    low = name.lower()
    if low.startswith("ffield.reax"):
        return "reaxff"
    if low.startswith("ffield.eim"):
        return "eim"
    for suffix, style in PAIR_STYLE_BY_SUFFIX:
        if low.endswith(suffix.lower()) or f"{suffix.lower()}." in low:
            return style
    return None


def _elements(name: str, head: list[str]) -> list[str]:
    found: list[str] = []
    for part in re.split(r"[_\-+.]", name.split(".")[0]):
        found += [s for s in re.findall(r"[A-Z][a-z]?", part) if s in ELEMENTS]
    for line in head[3:5]:  # setfl: line 4 is "N El1 El2 …"
        words = line.split()
        if words and words[0].isdigit() and int(words[0]) == len(words) - 1 and set(words[1:]) <= ELEMENTS:
            found += words[1:]
    return list(dict.fromkeys(found))


def parse_potential(path: Path) -> list[Chunk]:
    """One catalog entry: file name, pair style, elements, the header's description and citation."""
    with path.open("r", errors="replace") as fh:
        head = [next(fh, "") for _ in range(12)]
    style = guess_pair_style(path.name)
    elements = _elements(path.name, head)
    comments = [ln.strip().lstrip("#").strip() for ln in head if ln.strip().startswith("#")]
    if not comments and style in ("eam/alloy", "eam/fs", "eam", "adp"):
        comments = [ln.strip() for ln in head[: 3 if style != "eam" else 1] if ln.strip()]
    header = " ".join(c for c in comments if c)[:600]
    units = re.search(r"UNITS:\s*(\S+)", header)
    citation = re.search(r"CITATION:\s*(.+?)(?:\s+[A-Z]+:|$)", header)
    contributor = re.search(r"CONTRIBUTOR:\s*(.+?)(?:\s+[A-Z]+:|$)", header)
    title = f"Potential file {path.name}"
    facts = [f"Potential file {path.name}"]
    if style:
        facts.append(f"for pair_style {style}")
    if elements:
        facts.append(f"elements: {' '.join(elements)} ({'-'.join(elements)})")
    if units:
        facts.append(f"units: {units.group(1)}")
    text = ", ".join(facts) + "."
    if header:
        text += f"\nHeader: {header}"
    if citation:
        text += f"\nCitation: {citation.group(1).strip()}"
    if contributor:
        text += f"\nContributor: {contributor.group(1).strip()}"
    commands = [f"pair_style {style}"] if style else []
    return [
        Chunk(
            f"potentials/{path.name}",
            title,
            "Potential file",
            text,
            str(path.resolve()),
            "potentials",
            commands,
            0,
        )
    ]


# ----------------------------------------------------------------------------------------------- lab docs

DOC_SUFFIXES = (".md", ".markdown", ".txt", ".pdf", ".rst", ".html", ".htm")


def parse_markdown(text: str, doc_id: str, title: str, source: str) -> list[Chunk]:
    chunks: list[Chunk] = []
    section = ""
    buf: list[str] = []
    in_code = False

    def flush() -> None:
        body = "\n".join(buf).strip()
        for piece in split_text(body, CHUNK_CHARS):
            chunks.append(Chunk(doc_id, title, section or "Overview", piece, source, "docs", [], len(chunks)))
        buf.clear()

    for line in text.splitlines():
        if line.strip().startswith("```"):
            in_code = not in_code
        m = None if in_code else re.match(r"^(#{1,4})\s+(.+?)\s*#*$", line)
        if m:
            flush()
            if m.group(1) == "#" and title == doc_id:
                title = m.group(2)
            section = m.group(2)
        else:
            buf.append(line)
    flush()
    for c in chunks:
        c.title = title
    return chunks


def parse_pdf(path: Path, doc_id: str, source: str) -> list[Chunk]:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    title = (reader.metadata.title if reader.metadata and reader.metadata.title else None) or path.stem
    chunks: list[Chunk] = []
    for number, page in enumerate(reader.pages, start=1):
        text = page.extract_text() or ""
        for piece in split_text(text, CHUNK_CHARS):
            chunks.append(Chunk(doc_id, title, f"page {number}", piece, source, "docs", [], len(chunks)))
    return chunks


def parse_document(path: Path, root: Path) -> list[Chunk]:
    """A lab document: Markdown, plain text, PDF (pypdf), reStructuredText or HTML."""
    rel = path.relative_to(root) if path.is_relative_to(root) else Path(path.name)
    doc_id = f"docs/{rel.with_suffix('').as_posix()}"
    source = str(path.resolve())
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return parse_pdf(path, doc_id, source)
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        raise ValueError("binary file, not a document")
    text = data.decode("utf-8", errors="replace")
    if suffix in (".html", ".htm", ".rst"):
        from .manual import parse_html, parse_rst

        chunks = parse_html(text, doc_id, source) if suffix != ".rst" else parse_rst(text, doc_id, source)
        for c in chunks:
            c.kind = "docs"
        return chunks
    return parse_markdown(text, doc_id, path.stem, source)
