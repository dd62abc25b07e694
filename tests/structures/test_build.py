"""Structure → LAMMPS: a metal, a covalent crystal, a MOF and a molecular liquid each build, pass check and
run healthy in the real sandbox; what cannot be built says why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mdbot.cli import app
from mdbot.structures.build import Request
from mdbot.structures.errors import StructureError
from mdbot.structures.service import build_and_prove, make_setup
from tests.conftest import requires_bwrap

pytestmark = requires_bwrap


def _proved(doc: dict) -> None:
    assert doc["check"]["status"] == "ok", doc["check"]
    run = doc["run"]
    assert run["status"] == "ok" and run["final_step"] == 200, run
    assert run["health"]["ok"], run["health"]


def test_metal_from_a_cif(tmp_path, settings):
    from ase.build import bulk
    from ase.io import write

    write(
        tmp_path / "Cu.cif", bulk("Cu", "fcc", a=3.615, cubic=True)
    )  # written by ASE: no Cu CIF ships in a package
    doc = build_and_prove(
        tmp_path / "out", Request(temperature=500), path=tmp_path / "Cu.cif", sandbox=settings
    )
    _proved(doc)
    assert doc["kind"] == "crystal" and doc["force_field"] == "eam/alloy Cu_zhou.eam.alloy"
    assert doc["provenance"]["supercell"] == [6, 6, 6] and doc["natoms"] == 864
    data = (tmp_path / "out" / "data.Cu").read_text()
    assert "# force_field: eam/alloy Cu_zhou.eam.alloy" in data and "# tools:" in data


def test_an_alloy_only_meam_covers_gets_meam_with_its_element_library(tmp_path, settings):
    from ase.build import bulk
    from ase.io import write

    alloy = bulk("Ni", "fcc", a=3.56, cubic=True).repeat((2, 1, 1))
    alloy.set_chemical_symbols(["Co", "Cr", "Fe", "Ni"] * 2)  # the CoCrFeNi high-entropy alloy
    write(tmp_path / "CoCrFeNi.cif", alloy)
    doc = build_and_prove(tmp_path / "hea", Request(), path=tmp_path / "CoCrFeNi.cif", sandbox=settings)
    _proved(doc)
    assert doc["force_field"] == "meam MoCoNiVFeAlCr_2nn.meam" and doc["provenance"]["cutoff_A"] == 4.8
    assert {Path(f).name for f in doc["files"]} == {
        "data.CoCrFeNi",
        "MoCoNiVFeAlCr_2nn.meam",
        "library_2nn.meam",
    }
    script = (tmp_path / "hea" / "in.CoCrFeNi").read_text()
    # every element of the parameter file in its own order, then the element of each atom type
    assert "pair_coeff * * library_2nn.meam Mo Co Ni V Fe Al Cr MoCoNiVFeAlCr_2nn.meam Co Cr Fe Ni" in script


def test_covalent_crystal_from_a_public_cif_in_npt(public_files, tmp_path, settings):
    doc = build_and_prove(
        tmp_path / "sic",
        Request(ensemble="npt", pressure=1.0, temperature=600),
        path=public_files["CIF"],
        sandbox=settings,
    )
    _proved(doc)
    assert doc["force_field"].startswith("tersoff ") and "npt" in (tmp_path / "sic" / "in.SiC").read_text()


def test_mof_with_uff4mof_runs_and_says_charges_are_zero(core, tmp_path, settings):
    paths, _rows = core
    doc = build_and_prove(tmp_path / "mof", Request(), path=paths["ABAVIJ_clean"], sandbox=settings)
    _proved(doc)
    assert doc["kind"] == "framework" and doc["force_field"] == "UFF4MOF"
    assert any("zero charges" in w for w in doc["warnings"])
    assert doc["provenance"]["tools"]["lammps-interface"] == "0.2.2"


def _charges(data: Path) -> dict[int, list[float]]:
    """type → the charges of its atoms, from a data file's Atoms section (atom style full)."""
    section = data.read_text().split("\nAtoms", 1)[1].split("\n\n", 2)[1]
    by_type: dict[int, list[float]] = {}
    for line in section.splitlines():
        fields = line.split()
        by_type.setdefault(int(fields[2]), []).append(float(fields[3]))
    return by_type


def test_mof_with_qeq_charges_asked_for_runs_with_long_range_coulomb(core, tmp_path, settings):
    paths, _rows = core
    doc = build_and_prove(
        tmp_path / "mof", Request(charges="qeq"), path=paths["ABAVIJ_clean"], sandbox=settings
    )
    _proved(doc)
    assert "QEq" in doc["provenance"]["charges"] and not any("zero charges" in w for w in doc["warnings"])
    script = (tmp_path / "mof" / "in.ABAVIJ_clean").read_text()
    assert "lj/cut/coul/long" in script and "kspace_style" in script
    data = tmp_path / "mof" / "data.ABAVIJ_clean"
    masses = data.read_text().split("\nMasses", 1)[1].split("\n\n", 2)[1]
    names = {int(ln.split()[0]): ln.split("#")[1].strip() for ln in masses.splitlines()}
    by_type = _charges(data)
    mean = {names[t][:2].rstrip("_0123456789"): sum(q) / len(q) for t, q in by_type.items()}
    assert abs(sum(sum(q) for q in by_type.values())) < 0.01  # neutral
    assert mean["Co"] > 0 and mean["O"] < 0 and mean["N"] < 0 and mean["H"] > 0  # cobalt gives, O and N take


def test_liquid_from_smiles_through_the_command_line_and_mdbot_run(tmp_path, settings, monkeypatch):
    monkeypatch.setenv("MDBOT_DATA_DIR", str(settings.data_dir))
    out = tmp_path / "ethanol"
    res = CliRunner().invoke(
        app,
        [
            "structure",
            "build",
            "--smiles",
            "CCO",
            "--density",
            "0.79",
            "--charges",
            "qeq",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    _proved(doc)
    assert doc["kind"] == "liquid" and doc["provenance"]["smiles"] == "CCO"
    assert doc["provenance"]["tools"]["packmol"] and doc["provenance"]["tools"]["rdkit"]
    charges = [q for qs in _charges(Path(doc["files"][0])).values() for q in qs]
    assert "QEq" in doc["provenance"]["charges"] and abs(sum(charges)) < 0.05 and max(charges) > 0.1
    assert set(doc) >= {"script", "files", "force_field", "provenance", "check", "run"}
    argv = [
        "run",
        doc["script"],
        *[a for f in doc["files"] for a in ("--file", f)],
        "--json",
        "--timeout",
        "300",
    ]
    text = (out / "in.CCO").read_text().replace("run 10000", "run 100")
    (out / "in.CCO").write_text(text)
    ran = CliRunner().invoke(app, argv)
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout)["status"] == "ok"


def test_what_cannot_be_built_says_why(tmp_path, public_files):
    from ase.io import read, write

    nisb = public_files["CIF"].parent / "NiSb.cif"
    atoms = read(public_files["CIF"])
    atoms.set_chemical_symbols(["Ni" if s == "Si" else "Sb" for s in atoms.get_chemical_symbols()])
    write(nisb, atoms)
    with pytest.raises(StructureError, match="no potential in the catalog covers Ni-Sb"):
        make_setup(tmp_path / "a", Request(), path=nisb)
    with pytest.raises(StructureError, match="no periodic cell"):
        make_setup(tmp_path / "b", Request(), path=public_files["MDL mol/SDF"])
    with pytest.raises(StructureError, match="density must be between"):
        make_setup(tmp_path / "c", Request(), smiles="O", density=40)
    with pytest.raises(StructureError, match="temperature"):
        make_setup(tmp_path / "d", Request(temperature=-5), smiles="O", count=10)
    with pytest.raises(StructureError, match="charges must be one of none, qeq, not eqeq"):
        make_setup(tmp_path / "e", Request(charges="eqeq"), smiles="O", count=10)


def test_cli_molecule_by_the_name_the_lab_docs_give(knowledge, tmp_path, monkeypatch):
    settings, _pages, _docs = knowledge
    monkeypatch.setenv("MDBOT_DATA_DIR", str(settings.data_dir))
    out = tmp_path / "dmso"
    argv = ["structure", "build", "--molecule", "DMSO", "--count", "8", "--out", str(out), "--json"]
    res = CliRunner().invoke(app, argv)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["provenance"]["smiles"] == "CS(C)=O" and doc["provenance"]["molecules"] == 8
    assert doc["run"]["status"] == "ok"
    res = CliRunner().invoke(app, [*argv[:3], "unobtainium", *argv[4:]])
    assert res.exit_code == 2 and "no SMILES for 'unobtainium' in the lab's docs" in res.stdout
    monkeypatch.setenv("MDBOT_DATA_DIR", str(tmp_path / "empty"))
    res = CliRunner().invoke(app, argv)
    assert res.exit_code == 2 and "looks the name up in the lab's docs" in res.stdout


def test_topology_that_names_one_atom_twice_is_dropped_and_renumbered():
    from mdbot.structures.build import drop_degenerate_topology

    data = (
        "LAMMPS data\n\n4 atoms\n3 dihedrals\n2 atom types\n\nAtoms\n\n1 1 1 0.0 0 0 0\n2 1 1 0.0 1 0 0\n"
        "3 1 2 0.0 0 1 0\n4 1 2 0.0 0 0 1\n\nDihedrals\n\n       1        1        1        2        3        4\n"
        "       2        1        1        2        3        1\n       3        2        4        3        2        1\n"
        "\nImpropers\n\n"
    )
    fixed, removed = drop_degenerate_topology(data)
    assert removed == {"Dihedrals": 1} and "\n2 dihedrals\n" in fixed and "4 atoms" in fixed
    section = fixed.split("\nDihedrals\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [ln.split() for ln in section] == [["1", "1", "1", "2", "3", "4"], ["2", "2", "4", "3", "2", "1"]]
    assert drop_degenerate_topology(fixed) == (fixed, {})
