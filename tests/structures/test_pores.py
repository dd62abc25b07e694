"""Pore geometry against the published CoRE MOF 2019 values: exact mode within 0.05 Å, fast within 0.3 Å."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mdbot.cli import app
from mdbot.structures.errors import StructureError
from mdbot.structures.pores import pore_geometry
from mdbot.structures.read import read_structure
from tests.structures.conftest import EXACT


@pytest.mark.parametrize("mode,tolerance", [("exact", 0.05), ("fast", 0.3)])
def test_lcd_and_pld_match_core_mof(core, mode, tolerance):
    paths, rows = core
    for name in EXACT:
        doc = pore_geometry(read_structure(paths[name]).atoms, mode)
        published = float(rows[name]["LCD"]), float(rows[name]["PLD"])
        assert doc["lcd"] == pytest.approx(published[0], abs=tolerance), (name, doc)
        assert doc["pld"] == pytest.approx(published[1], abs=tolerance), (name, doc)
        assert doc["settings"]["mode"] == mode and doc["probe"] == 1.2


def test_cli_pores_json_with_probe_and_surface(core):
    paths, _rows = core
    res = CliRunner().invoke(
        app, ["structure", "pores", str(paths["ABAVIJ_clean"]), "--probe", "1.0", "--json"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert set(doc) >= {"lcd", "pld", "asa", "void_fraction", "probe", "settings"}
    assert doc["probe"] == 1.0 and doc["asa"] > 0 and 0 < doc["void_fraction"] < 1
    assert doc["settings"]["zeo_accuracy"] == "LOW" and doc["settings"]["jitter_A"] == 0.001


def test_pores_need_a_cell_and_a_sane_probe(public_files):
    molecule = read_structure(public_files["MDL mol/SDF"]).atoms
    with pytest.raises(StructureError, match="needs a periodic crystal"):
        pore_geometry(molecule)
    with pytest.raises(StructureError, match="probe radius"):
        pore_geometry(read_structure(public_files["CIF"]).atoms, probe=9.0)
