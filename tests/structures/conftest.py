"""Real structure files from public sources shipped in installed packages: CoRE MOF 2019 CIFs (core-mof),
COD mineral CIFs, a VASP file, an extended xyz and a LAMMPS data file from ASE's test data, an SDF from
RDKit's."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("ase")
pytest.importorskip("pyzeo")

# Small CoRE MOF 2019 entries (10–20 atoms: Zeo++'s exact mode takes about a second each).
EXACT = ["ic7025158-file001_clean", "JUTCUW_SL", "PIYZAZ_clean", "KECRAL10_clean", "ENCNBZ01_clean"]
# A MOF with hydrogens for the UFF4MOF build (108 atoms: Co, C, H, N, O).
FRAMEWORK = "ABAVIJ_clean"


def _package_file(package: str, *parts: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{package} is not installed")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


@pytest.fixture(scope="session")
def core(tmp_path_factory):
    """(name → CIF path, name → published row) for the entries the tests use."""
    from mdbot.structures.reference import ReferenceUnavailable, extract, table

    try:
        rows = table()
    except ReferenceUnavailable as exc:
        pytest.skip(str(exc))
    paths = extract([*EXACT, FRAMEWORK], tmp_path_factory.mktemp("core-mof"))
    return paths, rows


@pytest.fixture(scope="session")
def public_files(tmp_path_factory):
    """format label → a public file of that format, copied under a name mdbot recognises."""
    d = tmp_path_factory.mktemp("public")
    ase_data = ("ase", "test", "testdata")
    files = {
        "CIF": ("SiC.cif", _package_file(*ase_data[:1], *ase_data[1:], "minerals", "cod_1010995.cif")),
        "POSCAR": ("POSCAR", _package_file("ase", "test", "testdata", "vasp", "Li", "CHG")),
        "extended xyz": ("opls.extxyz", _package_file("ase", "test", "testdata", "opls_structure_ext.xyz")),
        "LAMMPS data": ("data.fe8", _package_file("ase", "test", "testdata", "lammpsdata_input.data")),
        "MDL mol/SDF": ("cdk2.sdf", _package_file("rdkit", "Contrib", "Fastcluster", "testdata", "cdk2.sdf")),
    }
    out = {}
    for label, (name, src) in files.items():
        shutil.copy(src, d / name)
        out[label] = d / name
    return out
