"""An attached structure in Slack and through the brain: no model needed; summary, picture, pores, and a
built setup that runs when the message asks for one."""

from __future__ import annotations

from tests.bot.conftest import slack_app  # noqa: F401 - the bot tests' fixture: a real Bolt app and Slack API
from tests.bot.slack_api import BOT_USER, message_event
from tests.conftest import requires_bwrap


def test_brain_describes_a_mof_with_pores_and_a_picture(make_brain, core):
    paths, rows = core
    brain = make_brain(retrieval=False)
    turn = brain.ask("what is this?", [paths["ABAVIJ_clean"]])
    assert (turn.intent, turn.outcome) == ("structure", "answered"), turn.answer
    assert "C48H32Co4N8O16, 108 atoms" in turn.answer and "space group Cc (9)" in turn.answer
    assert "pores (Zeo++, fast mode): LCD 4.5" in turn.answer
    (picture,) = turn.pictures
    assert picture.endswith("ABAVIJ_clean.png") and open(picture, "rb").read(4) == b"\x89PNG"


def test_brain_refuses_a_hostile_structure_by_name(make_brain, tmp_path):
    bad = tmp_path / "evil.cif"
    bad.write_bytes(b"\x00\x01binary" * 100)
    turn = make_brain(retrieval=False).ask("look at this", [bad])
    assert turn.outcome == "rejected" and "I could not use evil.cif: evil.cif is a binary file" in turn.answer


@requires_bwrap
def test_set_up_a_run_of_an_attached_crystal_in_a_slack_thread(slack_app, public_files):  # noqa: F811 - the fixture
    h = slack_app(retrieval=False, pictures=True)  # offline: routed by the attached structure
    sic = h.slack.host_file("SiC.cif", public_files["CIF"].read_text())
    h.send.event(
        message_event(
            f"<@{BOT_USER}> set up a 600 K NPT run of this at 1 bar, 300 steps",
            kind="app_mention",
            ts="1700.000100",
            files=[sic],
        )
    )
    (answer,) = h.answers("CLAB", "1700.000100")
    text = answer.all_text()
    assert "C4Si4, 8 atoms" in text and "Built a crystal setup: 512 atoms, tersoff SiC_1994.tersoff" in text
    assert "The script runs" in text and "final step 300" in text
    h.slack.wait_for(lambda: len(h.slack.uploads_in("CLAB", "1700.000100")) >= 3)
    names = {u["filename"] for u in h.slack.uploads_in("CLAB", "1700.000100")}
    assert "SiC.png" in names and "in.mdbot" in names
    (turn,) = [t for t in h.brain.journal.turns("CLAB:1700.000100") if t.attempts]
    assert turn.intent == "structure" and "# built_by: mdbot structure build" in turn.attempts[0].script


@requires_bwrap
def test_the_code_model_chooses_steps_and_parameters_through_the_tools(make_brain, tmp_path):
    from ase.build import bulk
    from ase.io import write

    from tests.graph.fakes import model, tool_calls

    write(tmp_path / "Cu.cif", bulk("Cu", "fcc", a=3.615, cubic=True))
    code = model(
        tool_calls(("read_structure", {"name": "Cu.cif"})),
        tool_calls(("find_potential", {"elements": ["Cu"]})),
        tool_calls(("build_setup", {"name": "Cu.cif", "temperature": 450, "ensemble": "npt", "steps": 0})),
        tool_calls(("build_setup", {"name": "Cu.cif", "temperature": 450, "ensemble": "npt", "steps": 300})),
        tool_calls(("check_setup", {})),
        "Built an NPT run of fcc copper at 450 K with the Zhou EAM potential.",
    )
    brain = make_brain(code=code, retrieval=False)
    turn = brain.ask("equilibrate this copper at 450 K and ambient pressure", [tmp_path / "Cu.cif"])
    assert (turn.intent, turn.outcome) == ("structure", "success"), turn.answer
    assert (
        "with the code model's choices (tools: read_structure, find_potential, build_setup, build_setup, "
        "check_setup)" in turn.answer
    )
    assert "fix md all npt temp 450 450" in turn.script and "run 300" in turn.script
    told = code.prompt_text(5)  # what the tools answered, as the model read it before its last reply
    assert '"formula": "Cu4"' in told and '"file": "Cu_zhou.eam.alloy"' in told
    assert "steps must be between 1 and 100 000 000" in told  # the refused build, corrected by the model
    assert '"status": "ok"' in told
    assert code.kwargs[0]["tools"] == [
        "read_structure",
        "pore_geometry",
        "find_potential",
        "build_setup",
        "check_setup",
    ]
    assert sum(c["purpose"] == "structure tools" for c in turn.calls) == 6


def test_routing_rules_for_structures():
    from mdbot.graph.intent import rule_intent

    assert rule_intent("hi", {"x.cif": "/p"})[0] == "structure"
    assert rule_intent("run", {"in.lj": "/p", "x.cif": "/p"})[0] == "run"  # a script wins
    # a LAMMPS data file is a script's input unless the message asks about the structure itself
    assert rule_intent("write a LAMMPS script for an LJ liquid", {"data.two": "/p"}) is None
    assert rule_intent("what is fix nvt?", {"data.lj": "/p"}) is None
    assert rule_intent("describe this structure", {"data.two": "/p"})[0] == "structure"
    assert rule_intent("simulate liquid ethanol, SMILES CCO", {})[0] == "structure"
    from mdbot.graph.structure import _request

    assert _request("set up a 350 K NVT run of this with charges").charges == "qeq"
    assert _request("run it with QEq").charges == "qeq"
    assert _request("a 300 K run, no charges please").charges == "none"


@requires_bwrap
def test_a_liquid_of_a_molecule_the_lab_docs_name_is_built_and_run(make_brain):
    turn = make_brain().ask("build a box of 30 ethylene carbonate molecules at 320 K and run it")
    assert turn.intent == "structure" and turn.outcome == "success", turn.answer
    assert "ethylene carbonate is C1COC(=O)O1 in the lab's docs" in turn.answer
    assert "300 atoms" in turn.answer  # the 30 molecules asked for (C3H4O3), not the default density's 150
    assert "fix md all nvt temp 320 320" in turn.script
    # a question about such a liquid is still a question, and a name no doc knows is not guessed
    from mdbot.graph.structure import named_in_docs

    searcher = make_brain().context.searcher
    assert named_in_docs("simulate liquid DMSO at 300 K", searcher) == ("dmso", "CS(C)=O")
    assert named_in_docs("how do I build a box of ethylene carbonate molecules?", searcher) is None
    assert named_in_docs("build a box of 50 unobtainium molecules", searcher) is None


def test_molecules_are_found_by_the_names_a_lab_writes_beside_their_smiles():
    from mdbot.structures.molecules import find_in_message, named_molecules

    notes = [
        "| name | SMILES |\n| propylene carbonate (PC) | CC1COC(=O)O1 |\nAcetonitrile: CC#N\n"
        "I agree.\nWe run SPC/E water in NPT at 300 K with SHAKE on the O-H bonds.\n"
    ]
    assert named_molecules(notes) == [
        ("propylene carbonate", "CC1COC(=O)O1"),
        ("pc", "CC1COC(=O)O1"),
        ("acetonitrile", "CC#N"),
    ]
    assert find_in_message("a box of 100 PC molecules", notes) == ("pc", "CC1COC(=O)O1")
    assert find_in_message("liquid carbonate", notes) is None  # part of a name is not the name
