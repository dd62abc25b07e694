"""Reading and describing structures: every format, and hostile files refused with a specific message."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mdbot.cli import app
from mdbot.structures.errors import StructureError
from mdbot.structures.info import describe
from mdbot.structures.read import read_structure
from mdbot.structures.settings import StructureSettings

EXPECTED = {  # format → (formula, natoms, space group or None)
    "CIF": ("C4Si4", 8, "F-43m (216)"),
    "POSCAR": ("Li", 1, "Im-3m (229)"),
    "extended xyz": ("CHO", 3, "P1 (1)"),
    "LAMMPS data": ("Fe8", 8, "P1 (1)"),
    "MDL mol/SDF": ("C10H13N5O2", 30, None),
}


@pytest.mark.parametrize("label", list(EXPECTED))
def test_info_of_each_format(public_files, label):
    doc = describe(read_structure(public_files[label]))
    formula, natoms, group = EXPECTED[label]
    assert (doc["format"], doc["formula"], doc["natoms"], doc["spacegroup"]) == (
        label,
        formula,
        natoms,
        group,
    )
    assert doc["min_distance"] is None or doc["min_distance"] > 0.5


def test_info_of_a_core_mof_matches_its_cif(core):
    paths, _rows = core
    doc = describe(read_structure(paths["ABAVIJ_clean"]))
    assert doc["formula"] == "C48H32Co4N8O16" and doc["natoms"] == 108
    assert doc["cell"] == pytest.approx(
        {"a": 9.8064, "b": 10.6685, "c": 13.9712, "alpha": 95.3024, "beta": 110.546, "gamma": 74.7329},
        abs=1e-3,
    )
    assert doc["density"] == pytest.approx(1.525, abs=1e-3) and doc["warnings"] == []


def test_pdb_from_rdkit_and_a_molecule_warns_it_has_no_cell(tmp_path):
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles("c1ccccc1O"))
    AllChem.EmbedMolecule(mol, randomSeed=1)
    (tmp_path / "phenol.pdb").write_text(Chem.MolToPDBBlock(mol))
    doc = describe(read_structure(tmp_path / "phenol.pdb"))
    assert doc["formula"] == "C6H6O" and doc["cell"] is None
    assert any("no periodic cell" in w for w in doc["warnings"])


def test_cli_info_json_and_picture(public_files, tmp_path):
    png = tmp_path / "sic.png"
    res = CliRunner().invoke(
        app, ["structure", "info", str(public_files["CIF"]), "--picture", str(png), "--json"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert set(doc) >= {
        "formula",
        "natoms",
        "cell",
        "volume",
        "density",
        "spacegroup",
        "elements",
        "min_distance",
        "warnings",
    }
    assert doc["picture"] == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


CIF_HEAD = (
    "data_x\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n_cell_angle_alpha 90\n"
    "_cell_angle_beta 90\n_cell_angle_gamma 90\n_symmetry_space_group_name_H-M 'P 1'\nloop_\n"
    "_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
)


def test_warnings_for_overlap_partial_occupancy_and_missing_hydrogens(tmp_path):
    (tmp_path / "overlap.cif").write_text(CIF_HEAD + "Cu1 Cu 0 0 0\nCu2 Cu 0.01 0 0\n")
    doc = describe(read_structure(tmp_path / "overlap.cif"))
    assert any("overlapping atoms: Cu1 and Cu2 are 0.040 Å apart" in w for w in doc["warnings"]), doc
    partial = CIF_HEAD.replace("_atom_site_fract_z\n", "_atom_site_fract_z\n_atom_site_occupancy\n")
    (tmp_path / "partial.cif").write_text(
        partial + "Fe1 Fe 0 0 0 0.5\nNi1 Ni 0 0 0 0.5\nC1 C 0.5 0.5 0.5 1\nO1 O 0.2 0.5 0.5 1\n"
    )
    doc = describe(read_structure(tmp_path / "partial.cif"))
    assert any(w.startswith("partial occupancies on") for w in doc["warnings"]), doc
    assert any("hydrogens are probably missing" in w for w in doc["warnings"]), doc


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.cif", b"\x7fELF\x02\x01\x01\x00" + bytes(200), "is a binary file"),
        ("empty.xyz", b"", "is empty"),
        (
            "short.xyz",
            b"5\ncomment\nC 0 0 0\nC 1 0 0\n",
            "line 1: the file says 5 atoms but has only 2 atom lines",
        ),
        (
            "data.big",
            b"title\n\n1000000000 atoms\n1 atom types\n",
            "line 3: the file claims 1,000,000,000 atoms",
        ),
        (
            "huge.cif",
            CIF_HEAD.replace("_cell_length_a 4", "_cell_length_a 1e9").encode() + b"C1 C 0 0 0\n",
            "is absurd",
        ),
        (
            "flat.cif",
            CIF_HEAD.replace("_cell_length_c 4", "_cell_length_c 0.0001").encode() + b"C1 C 0 0 0\n",
            "degenerate",
        ),
        ("notes.txt", b"hello", "not a structure file I can read"),
        ("garbage.cif", b"data_x\nloop_\n_atom_site_label\n", "could not read garbage.cif as CIF"),
        ("nan.xyz", b"1\n\nC nan 0 0\n", "not numbers"),
    ],
)
def test_hostile_files_are_refused_with_a_specific_message(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(StructureError) as exc:
        read_structure(tmp_path / name)
    assert message in str(exc.value)


def test_parsing_is_bounded_in_time_and_memory(tmp_path):
    lines = ["200000", ""] + [f"C {i * 0.1:.1f} 0 0" for i in range(200000)]
    (tmp_path / "big.xyz").write_text("\n".join(lines) + "\n")
    with pytest.raises(StructureError, match="the limit is 1,000"):
        read_structure(tmp_path / "big.xyz", StructureSettings(_env_file=None, max_atoms=1000))
    with pytest.raises(StructureError, match="needs more memory than allowed"):
        read_structure(tmp_path / "big.xyz", StructureSettings(_env_file=None, memory_mb=150))
    # a parse that outlives its limit is stopped (200,000 atoms take ASE about a second; 0.05 s is never enough)
    with pytest.raises(StructureError, match="took longer than 0.05 s"):
        read_structure(tmp_path / "big.xyz", StructureSettings(_env_file=None, read_timeout_s=0.05))


def test_bad_smiles_and_cli_errors(tmp_path):
    from mdbot.structures.read import from_smiles

    with pytest.raises(StructureError, match="cannot parse the SMILES"):
        from_smiles("C1CC(")
    res = CliRunner().invoke(app, ["structure", "info", str(tmp_path / "missing.cif"), "--json"])
    assert res.exit_code == 2 and json.loads(res.stdout)["status"] == "usage_error"
