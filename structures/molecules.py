"""Molecules named in the lab's own documents: the SMILES a lab wrote beside a name, found by that name.

A lab keeps its molecules in its docs ("| ethylene carbonate | C1COC(=O)O1 |", "DMSO: CS(C)=O"); a member
then asks for "a box of 200 ethylene carbonate molecules". The texts are given by the caller (the knowledge
base's lab documents); this module only reads them: in each line, a token RDKit parses as a molecule is a
SMILES candidate, and the line's other words are the name it belongs to. Nothing here reaches a network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# a token that may be SMILES: atoms, bonds, rings, branches, charges; at least one letter
_TOKEN = re.compile(r"(?<![\w/\\])([A-Za-z0-9@+\-\[\]()=#$%/\\.:*]{1,200})(?![\w/\\])")
_WORD = re.compile(r"[a-z0-9][a-z0-9\-']*")
_STOP = frozenset("the a an of and or smiles name molecule molecules is are for with in as liquid solvent".split())


def _smiles(token: str) -> str | None:
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")  # a failed parse is the normal case here, not news
    token = token.strip("`'\".,;")
    if len(token) < 1 or not re.search(r"[BCNOPSFIcnops]", token):
        return None
    mol = Chem.MolFromSmiles(token)
    return token if mol is not None and mol.GetNumHeavyAtoms() > 0 else None


def _names(line: str, smiles: str) -> list[str]:
    """The names a line gives its molecule: "dimethyl sulfoxide (DMSO)" is two, separated by brackets, bars,
    commas, slashes or colons."""
    names = []
    for part in re.split(r"[|(),;/:=]", line.replace(smiles, " ").lower()):
        words = [w for w in _WORD.findall(part) if w not in _STOP]
        if 0 < len(words) <= 6:
            names.append(" ".join(words))
    return names


def named_molecules(texts: Iterable[str]) -> list[tuple[str, str]]:
    """(name, SMILES) pairs written in ``texts``: lines with a parsable SMILES and a few words of name."""
    pairs = []
    for text in texts:
        for line in text.splitlines():
            if len(line) > 300:
                continue
            found = [s for s in (_smiles(t) for t in _TOKEN.findall(line)) if s]
            # a line's name words may themselves parse ("CO", "DMSO" does not): the longest token is the SMILES
            if not found:
                continue
            smiles = max(found, key=len)
            if len(smiles) < 2 and "smiles" not in line.lower():  # "I", "C" and "O" are words too
                continue
            pairs += [(name, smiles) for name in _names(line, smiles)]
    return pairs


def find_in_message(message: str, texts: Iterable[str]) -> tuple[str, str] | None:
    """The (name, SMILES) from ``texts`` whose whole name the message mentions; the longest name wins."""
    said = " ".join(_WORD.findall(message.lower()))
    best = None
    for name, smiles in named_molecules(texts):
        if re.search(rf"(?<![a-z0-9]){re.escape(name)}(?![a-z0-9])", said) and (
            best is None or len(name) > len(best[0])
        ):
            best = (name, smiles)
    return best
