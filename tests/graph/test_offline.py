"""Replies without a model (issue 16), through the real graph: questions answered from the manual, an error
inside a sentence explained, follow-ups applied by rules and run, every deterministic repair before the
next attempt, and the three run verdicts (broken, not equilibrated yet, equilibrated) on real runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import requires_bwrap
from tests.graph.fakes import GOOD_LJ

pytestmark = requires_bwrap
QUESTIONS = Path(__file__).resolve().parents[2] / "bench" / "offline_qa.jsonl"
# Questions of the frozen set whose pages the shared test knowledge base holds (tests/conftest.py PAGES).
SUBSET = ["units-real-metal", "minimize-args", "langevin-vs-nh", "neighbor-skin", "velocity-create", "shake-what",
          "msd", "kspace-pair", "neigh-modify-check", "shake-vs-rattle", "tdamp", "pdamp", "npt-iso-aniso",
          "read-data-format", "rdf"]  # fmt: skip


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[*_`\\]", "", text).split()).lower()


def _questions() -> dict[str, dict]:
    return {q["id"]: q for q in map(json.loads, QUESTIONS.read_text().splitlines()) if q}


# ------------------------------------------------------------------------------------------------ Q&A
def test_offline_questions_show_the_answer(make_brain):
    brain = make_brain()
    questions = _questions()
    for qid in SUBSET:
        q = questions[qid]
        turn = brain.ask(q["question"])
        assert turn.intent == "qa" and turn.outcome == "offline", qid
        text = _normal(turn.answer)
        lacking = [group for group in q["must"] if not any(_normal(a) in text for a in group)]
        assert not lacking, f"{qid}: lacks {lacking}\n{turn.answer}"
        assert "\\frac" not in turn.answer and "\\begin" not in turn.answer and "\\mathrm" not in turn.answer
        assert "Related commands" not in turn.answer and turn.citations


def test_a_question_that_names_two_things_shows_both(make_brain):
    turn = make_brain().ask("What is the difference between units real and units metal?")
    text = _normal(turn.answer)
    real, metal = text.find("for style real"), text.find("for style metal")
    assert real >= 0 and metal >= 0, text  # both paragraphs, each with its list of units
    assert "energy = kcal/mol" in text and "energy = ev" in text and "time = picoseconds" in text
    assert turn.citations[0]["doc_id"] == "units"


def test_math_is_rendered_as_text(make_brain):
    turn = make_brain().ask("What forces does fix langevin add to each atom?")
    assert turn.citations[0]["doc_id"] == "fix_langevin"
    assert "m/damp" in turn.answer.replace(" ", "") and "\\frac" not in turn.answer


def test_what_a_question_sets_side_by_side():
    from mdbot.graph.offline import side_by_side

    assert side_by_side("What is the difference between units real and units metal?", ["units"]) == {"real", "metal"}
    assert side_by_side("What is the difference between SHAKE and RATTLE?", []) == {"shake", "rattl"}
    assert side_by_side("What do the boundary styles p, f, s and m mean?", ["boundary"]) == {"p", "f", "s", "m"}
    assert side_by_side("iso vs aniso in fix npt", ["fix npt"]) == {"iso", "aniso"}


def test_a_page_is_read_as_its_reader_sees_it(tmp_path):
    """A bold line heads the paragraphs after it, a list-table is a table, a Syntax's keyword listing inside a
    list item is its own code block."""
    from mdbot.graph.manual_page import sections

    page = tmp_path / "fix_demo.rst"
    page.write_text(
        "fix demo command\n================\n\nSyntax\n\"\"\"\"\"\"\n\n* keyword = *a* or *b*\n\n"
        "  .. parsed-literal::\n\n     *a* value = N\n       N = how many (see :doc:`run <run>`)\n\n"
        "Description\n\"\"\"\"\"\"\"\"\"\"\"\n\nFirst paragraph.\n\n**A vs B:**\n\nHow they differ.\n\n"
        ".. list-table::\n   :header-rows: 1\n\n   * - Style\n     - Meaning\n   * - *a*\n     - one\n"
    )
    by_name = {s.name: s.blocks for s in sections(str(page))}
    assert [b.kind for b in by_name["Syntax"]] == ["list", "code"]
    assert "N = how many (see run)" in by_name["Syntax"][1].text
    assert [b.text for b in by_name["Description / A vs B"]][0] == "How they differ."
    table = by_name["Description / A vs B"][1]
    assert table.kind == "table" and table.text.splitlines()[2] == "| *a* | one |"


# -------------------------------------------------------------------------------------------- errors
def test_an_error_inside_a_sentence_is_explained(make_brain):
    brain = make_brain()
    turn = brain.ask("I got: ERROR: Illegal fix nvt command (../fix_nh.cpp:113) what does that mean?")
    assert turn.intent == "explain" and turn.outcome == "answered"
    answer = turn.answer
    assert "*Error:* Illegal fix nvt command" in answer
    assert "wrong number of arguments" in answer and "Likely fixes" in answer
    assert "Syntax of `fix nvt`" in answer and "Tstart" in answer and "Tdamp" in answer
    assert turn.citations[0]["doc_id"] == "fix_nh"
    assert "Related commands" not in answer


def test_a_warning_is_explained_with_the_manuals_entry(make_brain):
    turn = make_brain().ask(
        "my log says WARNING: Temperature for thermo pressure is not for group all (../thermo.cpp:527) - bad?"
    )
    assert turn.intent == "explain"
    assert "*Warning:* Temperature for thermo pressure is not for group all" in turn.answer
    assert "The manual on this message" in turn.answer and "Errors_warnings" in {
        c["doc_id"] for c in turn.citations
    }


# ----------------------------------------------------------------------------------------- follow-ups
def test_follow_ups_are_applied_by_rules_shown_as_a_diff_and_run(make_brain):
    brain = make_brain(retrieval=False)
    small = GOOD_LJ.replace("0 5 0 5 0 5", "0 3 0 3 0 3").replace("run 500", "run 100")
    first = brain.ask(f"run this\n```\n{small}```", thread_id="F1")
    assert first.outcome == "success"
    turn = brain.ask("now run it at T=2.0 for 300 steps", thread_id="F1")
    assert turn.intent == "generate" and turn.outcome == "success", turn.answer
    assert "velocity all create 2.0 87287" in turn.script
    assert "fix 1 all nvt temp 2.0 2.0 0.5" in turn.script and "run 300" in turn.script
    assert turn.result["final_step"] == 300 and turn.model_calls == 0
    assert "```diff" in turn.answer and "-run 100" in turn.answer and "+run 300" in turn.answer
    assert "line 8: velocity create temperature 1.5 → 2.0" in turn.answer
    # the next edit builds on that one
    turn = brain.ask("thermo every 20", thread_id="F1")
    assert "thermo 20" in turn.script and "run 300" in turn.script and turn.outcome == "success"
    # what the rules cannot do says it needs a model
    turn = brain.ask("now switch it to a Tersoff potential for silicon", thread_id="F1")
    assert turn.outcome == "offline" and "needs a language model" in turn.answer
    assert "MDBOT_LLM_INSTRUCT_BASE_URL" in turn.answer


# ------------------------------------------------------------------------------------------- repairs
def test_every_deterministic_fix_comes_before_the_next_attempt(make_brain):
    """A misspelled style and a missing mass: one repaired attempt, not one per fix; line numbers are
    those of the user's script."""
    broken = GOOD_LJ.replace("mass 1 1.0\n", "").replace("pair_style lj/cut", "pair_style lj/cutt")
    broken = broken.replace("run 500", "run 100")
    turn = make_brain(retrieval=False).ask(f"```\n{broken}```")
    assert turn.outcome == "success", turn.answer
    # velocity (line 7) needs the masses before pair_style (line 8) is read: the mass comes first
    assert [a["origin"] for a in turn.attempts] == ["user", "repair:mass+style"]
    mass, style = turn.attempts[1]["changes"]
    assert mass.startswith("added mass * 1.0 after line 5")
    assert style == "line 8: pair style 'lj/cutt' does not exist; used 'lj/cut'"  # line 9 once mass is in
    assert "masses added, style name fixed" in turn.answer


def test_line_numbers_said_are_the_users():
    from mdbot.graph.repair import in_original, line_map

    original = "units lj\ncreate_box 1 box\nvelocity all create 1 1\nrun 10\n"
    edited = "units lj\ncreate_box 1 box\nmass * 1.0\nvelocity all create 1 1\nrun 10\n"
    assert line_map(original, edited) == {1: 1, 2: 2, 3: None, 4: 3, 5: 4}
    assert in_original("line 4: velocity", original, edited) == "line 3: velocity"
    assert "a line mdbot added" in in_original("line 3", original, edited)


# ------------------------------------------------------------------------------------------ verdicts
LJ_CRYSTAL = """units lj
atom_style atomic
lattice fcc 0.8442
region box block 0 4 0 4 0 4
create_box 1 box
create_atoms 1 box
mass 1 1.0
velocity all create 1.44 87287 loop geom
pair_style lj/cut 2.5
pair_coeff 1 1 1.0 1.0 2.5
fix 1 all nvt temp 1.44 1.44 {damp}
timestep {dt}
thermo {thermo}
run {steps}
"""


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (dict(damp=5.0, dt=0.005, thermo=10, steps=200), "**Not equilibrated yet**"),
        (dict(damp=0.1, dt=0.005, thermo=20, steps=1000), "; equilibrated: temperature"),
    ],
)
def test_a_run_that_works_says_whether_it_has_equilibrated(make_brain, settings, expected):
    turn = make_brain(retrieval=False).ask(f"```\n{LJ_CRYSTAL.format(**settings)}```")
    assert turn.outcome == "success" and len(turn.attempts) == 1, turn.answer
    assert expected in turn.answer and "Thermo (" in turn.answer and "Temp 1.44 → " in turn.answer
    assert turn.result["health"]["verdict"] in ("equilibrating", "equilibrated")
    assert "run longer" in turn.answer if "Not" in expected else "target 1.44" in turn.answer


def test_a_broken_run_is_called_broken_never_healthy(make_brain):
    script = LJ_CRYSTAL.format(damp=0.1, dt=0.5, thermo=10, steps=200)  # a huge timestep: atoms fly off
    turn = make_brain(retrieval=False).ask(f"```\n{script}```")
    assert turn.outcome == "failed" and "No attempt ran cleanly" in turn.answer
    assert "Lost atoms" in turn.answer and "health ok" not in turn.answer
    assert turn.result["health"]["ok"] is False and turn.result["health"]["verdict"] == "broken"
