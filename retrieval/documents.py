"""What the knowledge base stores: chunks of documents, with the metadata retrieval and citations need."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

KINDS = ("manual", "examples", "potentials", "docs")


@dataclass
class Chunk:
    """One retrievable passage. ``doc_id`` groups chunks of one document (a manual page's file stem)."""

    doc_id: str
    title: str
    section: str
    text: str
    source: str  # path or URL the user can open
    kind: str  # one of KINDS
    commands: list[str] = field(default_factory=list)  # LAMMPS command/style names the document covers
    ordinal: int = 0  # position within its document
    links: list[str] = field(default_factory=list)  # doc ids this document links to (on its summary chunk)
    version: str = ""  # manual pages: the LAMMPS version of the manual ("29 Aug 2024"), "" if unknown
    url: str = ""  # manual pages: the same version's page online, "" if there is none

    @property
    def embed_text(self) -> str:
        """What the dense model sees: title and section give short passages their context."""
        return f"{self.title} — {self.section}: {self.text}" if self.section else f"{self.title}: {self.text}"


def stable_id(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:16]


def split_text(text: str, size: int, overlap: int = 0) -> list[str]:
    """Split at paragraph, then sentence boundaries into pieces of at most ~``size`` characters."""
    text = text.strip()
    if len(text) <= size:
        return [text] if text else []
    pieces: list[str] = []
    current = ""
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        if not para:
            continue
        units = [para] if len(para) <= size else re.split(r"(?<=[.!?])\s+", para)
        for unit in units:
            while len(unit) > size:  # a single enormous sentence or code block
                head, unit = unit[:size], unit[size:]
                if current:
                    pieces.append(current)
                    current = ""
                pieces.append(head)
            if current and len(current) + len(unit) + 2 > size:
                pieces.append(current)
                current = current[-overlap:] + " " + unit if overlap else unit
            else:
                current = f"{current}\n\n{unit}" if current else unit
    if current:
        pieces.append(current)
    return pieces
