"""Published pore geometry to compare with: the CoRE MOF 2019 database (the ``core-mof`` package, optional).

The package ships the CIFs in one xz tarball and the LCD/PLD table as CSV; its own loader needs pymatgen
and rescans the tarball for every entry, so this reads both directly, all wanted entries in one pass.
"""

from __future__ import annotations

import csv
import tarfile
from importlib import resources
from pathlib import Path

DATASET = "2019-ASR"


class ReferenceUnavailable(RuntimeError):
    """core-mof is not installed: pip install --no-deps core-mof (make setup does)."""


def _data():
    try:
        import CoRE_MOF.data as data
    except ImportError as exc:
        raise ReferenceUnavailable("the CoRE MOF reference needs: pip install --no-deps core-mof") from exc
    return resources.files(data)


def table(dataset: str = DATASET) -> dict[str, dict]:
    """name → the published row (LCD, PLD, … as strings, as in the CSV)."""
    with open(_data() / f"{dataset}.csv", newline="") as f:
        return {row["filename"]: row for row in csv.DictReader(f)}


def extract(names: list[str], dest: Path, dataset: str = DATASET) -> dict[str, Path]:
    """Write the CIFs of ``names`` into ``dest``; name → path (names not in the set are left out)."""
    want, found = set(names), {}
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(_data() / f"{dataset}.tar.xz") as tar:
        for member in tar:
            name = member.name.rsplit("/", 1)[-1].removesuffix(".cif")
            if member.isfile() and name in want and name not in found:
                path = dest / f"{name}.cif"
                path.write_bytes(tar.extractfile(member).read())
                found[name] = path
                if len(found) == len(want):
                    break
    return found
