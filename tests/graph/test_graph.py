"""The graph end to end: scripted models on top, the real sandbox and the real knowledge base underneath."""

from __future__ import annotations

import pytest

from tests.conftest import requires_bwrap
from tests.graph.fakes import BROKEN_LJ, CU_EAM, GOOD_LJ, lammps, model

pytestmark = requires_bwrap


def _events(brain, text, **kw):
    seen = []
    turn = brain.ask(text, on_progress=seen.append, **kw)
    return turn, [e["stage"] for e in seen]


# ------------------------------------------------------------------------------------------ routing
def test_routing_rules_and_model(make_brain, tmp_path):
    instruct = model(
        "The style name is misspelled.",  # explains the pasted error
        {"intent": "generate", "reason": "asks for a script"},
        {"intent": "help", "reason": "x"},
    )
    code = model(lammps(GOOD_LJ))
    brain = make_brain(instruct=instruct, code=code, retrieval=False)
    # A code block of LAMMPS commands is a run, decided without the model.
    turn = brain.ask(f"can you run this?\n```\n{GOOD_LJ}```")
    assert turn.intent == "run" and "script" in turn.route_reason and turn.outcome == "success"
    # An attached in.* file is a run too.
    script = tmp_path / "in.melt"
    script.write_text(GOOD_LJ)
    assert brain.ask("please", [script]).intent == "run"
    # A pasted ERROR line is an explanation.
    turn = brain.ask("ERROR: Unrecognized pair style 'lj/cutt' (src/force.cpp:275)")
    assert turn.intent == "explain" and "lj/cut" in turn.answer
    assert "misspelled" in turn.answer
    assert not any("response_format" in kw for kw in instruct.kwargs)  # rules decided all three
    # The rest goes to the instruct model with a JSON schema.
    turn = brain.ask("I need an argon box equilibrated at 90 K")
    assert turn.intent == "generate" and turn.route_reason == "asks for a script"
    assert instruct.kwargs[1]["response_format"]["json_schema"]["name"] == "RouteDecision"
    assert brain.ask("what are you?").intent == "help"


def test_offline_routing_by_keywords(make_brain):
    brain = make_brain(retrieval=False)
    assert brain.ask("help").intent == "help"
    assert brain.ask("write a LAMMPS script for an LJ liquid").intent == "generate"
    assert brain.ask("what is a neighbor list?").intent == "qa"


def test_a_caller_can_skip_routing(make_brain):
    """mdbot eval code sends every task down the generate path, whatever its wording; the next turn of
    the thread is routed as usual again."""
    instruct = model({"intent": "qa", "reason": "looks like a question"})
    brain = make_brain(instruct=instruct, retrieval=False)
    turn = brain.ask("what is a neighbor list?", intent="generate", thread_id="t")
    assert turn.intent == "generate" and turn.route_reason == "set by the caller" and instruct.prompts == []
    assert brain.ask("what is a neighbor list?", thread_id="t").intent == "qa"


# -------------------------------------------------------------------------------------------- Q&A
def test_qa_cites_retrieved_pages_and_strips_invented_commands(make_brain):
    answer = (
        "Use `fix nvt` with a damping time of about 100 timesteps [1]. "
        "For speed use `fix nvt/turbo` instead [2]. Damping is given in time units [1][12].\n\n"
        "```lammps\nfix 1 all nvt temp 300.0 300.0 100.0\nfix 2 all thermostat_magic 300\n```"
    )
    instruct = model({"intent": "qa", "reason": "a question"}, answer)
    brain = make_brain(instruct=instruct)
    turn, stages = _events(brain, "How do I use a Nose-Hoover thermostat?")
    assert turn.intent == "qa" and turn.outcome == "answered"
    assert stages[:3] == ["routing", "routed", "retrieving"]
    # the answer prompt carried the numbered passages
    prompt = instruct.prompt_text(1)
    assert "[1] " in prompt and "fix_nh" in prompt
    body, _, notes = turn.answer.partition("⚠️")
    assert "fix nvt/turbo" not in body and "thermostat_magic" not in body
    assert "fix nvt/turbo" in turn.flagged and "fix thermostat_magic" in turn.flagged
    assert "Removed from this answer" in notes
    assert "fix 1 all nvt temp 300.0 300.0 100.0" in turn.answer  # the real command stays
    assert "[12]" not in turn.answer  # points at no passage
    assert [c["n"] for c in turn.citations] == [1]
    assert turn.citations[0]["doc_id"] == "fix_nh"


def test_qa_offline_returns_passages_with_citations(make_brain):
    brain = make_brain()
    turn = brain.ask("What does the Tdamp parameter of the Nose-Hoover thermostat mean?")
    assert turn.intent == "qa" and turn.outcome == "offline"
    assert "no language model is configured" in turn.answer.lower()
    assert turn.citations and turn.citations[0]["doc_id"] == "fix_nh"
    assert "[1]" in turn.answer


# -------------------------------------------------------------------------------------- code loop
def test_loop_repairs_a_broken_script_through_the_sandbox(make_brain):
    code = model(lammps(BROKEN_LJ), lammps(GOOD_LJ, "Fixed the keyword."))
    brain = make_brain(code=code)
    turn, stages = _events(brain, "write a LAMMPS script for an LJ liquid at T*=1.5 in NVT")
    assert turn.intent == "generate" and turn.outcome == "success"
    assert [a["origin"] for a in turn.attempts] == ["model", "repair:model"]
    assert turn.attempts[0]["check"] == "error" and turn.attempts[1]["run"] == "ok"
    assert turn.result["status"] == "ok" and turn.result["final_step"] == 500
    assert turn.script.strip() == GOOD_LJ.strip()
    # the repair prompt had the error, the offending line and the manual section of the failing command
    repair_prompt = code.prompt_text(1)
    assert "temperature" in repair_prompt and "fix 1 all nvt temperature" in repair_prompt
    assert "Manual (" in repair_prompt
    # the first prompt had example scripts and manual pages
    assert "Example script" in code.prompt_text(0)
    for stage in ("retrieving", "writing", "checking", "running", "critiquing", "repairing"):
        assert stage in stages
    assert turn.model_calls == 2


def test_wrong_potential_file_repaired_without_a_model_call(make_brain):
    code = model(lammps(CU_EAM))
    brain = make_brain(code=code, retrieval=False)
    turn = brain.ask("write a LAMMPS script: copper fcc crystal with EAM at 300 K in NVT")
    assert turn.outcome == "success", turn.answer
    assert [a["origin"] for a in turn.attempts] == ["model", "repair:potential"]
    assert "Cu_mishin1.eam.alloy" in turn.script
    assert "Cu_mishin1.eam.alloy" in turn.attempts[1]["changes"][0]
    assert turn.model_calls == 1 and len(code.prompts) == 1


def test_loop_guard_stops_a_repeated_script(make_brain):
    code = model(lammps(BROKEN_LJ), lammps(BROKEN_LJ.replace("thermo 50", "thermo 100")), lammps(GOOD_LJ))
    brain = make_brain(code=code, retrieval=False)
    turn, stages = _events(brain, "write a LAMMPS script for an LJ liquid at T*=1.5 in NVT")
    assert turn.outcome == "success"
    # the second reply changed only a line after the failing command: it was never run
    assert len(turn.attempts) == 2 and "guard" in stages
    assert "different approach" in code.prompt_text(2)
    assert turn.model_calls == 3


def test_attempt_budget(make_brain):
    broken = [lammps(BROKEN_LJ.replace("region box block 0 5", f"region box block 0 {n}")) for n in (4, 5, 6)]
    code = model(*broken)
    brain = make_brain(code=code, retrieval=False, attempt_budget=2)
    turn = brain.ask("write a LAMMPS script for an LJ liquid at T*=1.5 in NVT")
    assert turn.outcome == "failed" and len(turn.attempts) == 2
    assert "No attempt ran cleanly" in turn.answer and "temperature" in turn.answer
    assert len(code.prompts) == 2  # the budget stopped the loop, not the model


def test_thread_follow_up_sees_the_earlier_script_after_a_restart(make_brain, tmp_path):
    root = tmp_path / "shared-data"
    first = make_brain(code=model(lammps(GOOD_LJ)), retrieval=False, data_dir=root)
    turn = first.ask("write a LAMMPS script for an LJ liquid at T*=1.5 in NVT", thread_id="C1:123.4")
    assert turn.outcome == "success"
    first.close()
    hotter = GOOD_LJ.replace("1.5 1.5 0.5", "2.0 2.0 0.5").replace("create 1.5", "create 2.0")
    code = model(lammps(hotter))
    instruct = model({"intent": "generate", "reason": "changes the earlier script"})
    second = make_brain(instruct=instruct, code=code, retrieval=False, data_dir=root)
    turn = second.ask("now make it T*=2.0", thread_id="C1:123.4")
    assert turn.intent == "generate" and turn.outcome == "success"
    prompt = code.prompt_text(0)
    assert "fix 1 all nvt temp 1.5 1.5 0.5" in prompt  # the previous turn's script
    assert "LJ liquid at T*=1.5" in prompt  # and the conversation
    assert "There is an earlier script" in instruct.prompt_text(0)
    assert len(second.journal.turns("C1:123.4")) == 2


def test_run_and_explain_work_offline(make_brain, tmp_path):
    brain = make_brain()
    data = tmp_path / "in.lj"
    data.write_text(GOOD_LJ.replace("pair_style lj/cutt", "pair_style lj/cut"))
    turn = brain.ask("", [data])
    assert turn.intent == "run" and turn.outcome == "success" and turn.model_calls == 0
    turn = brain.ask(
        "what does this mean?\nERROR: Lost atoms: original 4000 current 3998 (src/thermo.cpp:488)"
    )
    assert turn.intent == "explain" and "timestep" in turn.answer and turn.citations


def test_a_user_script_that_makes_its_output_directory_is_told_what_was_done(make_brain, tmp_path):
    script = tmp_path / "in.lj"
    script.write_text("shell mkdir out\n" + GOOD_LJ.replace("pair_style lj/cutt", "pair_style lj/cut"))
    turn = make_brain(retrieval=False).ask("", [script])
    assert turn.outcome == "success"
    assert "mdbot created the directory 'out' in the job directory" in turn.answer
    assert turn.answer.count("mdbot created the directory") == 1  # the check's and the run's note, once


def test_generate_offline_offers_examples(make_brain):
    brain = make_brain()
    turn = brain.ask("write a LAMMPS script for a copper crystal with EAM")
    assert turn.intent == "generate" and turn.outcome == "offline"
    assert "No language model is configured" in turn.answer and "```lammps" in turn.answer


def test_policy_refusal_of_a_user_script_is_not_rewritten(make_brain):
    code = model(lammps(GOOD_LJ))
    brain = make_brain(code=code, retrieval=False)
    turn = brain.ask(f"run\n```\n{GOOD_LJ}shell rm -rf /\n```")
    assert turn.outcome == "rejected" and "refused" in turn.answer and not code.prompts


def test_model_outage_becomes_an_answer(make_brain):
    from tests.graph.fakes import Scripted

    class Down(Scripted):
        def _generate(self, *a, **k):
            raise ConnectionError("connection refused")

    brain = make_brain(instruct=Down(responses=[]), code=Down(responses=[]))
    turn = brain.ask("what is fix langevin?")
    assert turn.outcome == "offline" and "model endpoint failed" in turn.answer and turn.citations
    turn = brain.ask("write a LAMMPS script for an LJ liquid")
    assert turn.outcome == "error" and "could not write" in turn.answer


# ---------------------------------------------------------------------------------------- journal
def test_journal_records_the_turn_and_feedback(make_brain):
    judge = model({"task_completion": 9, "does_other_task": False, "physics": 8, "comments": "fine"})
    code = model(lammps(BROKEN_LJ), lammps(GOOD_LJ))
    brain = make_brain(code=code, judge=judge)
    turn = brain.ask(
        "write a LAMMPS script for an LJ liquid at T*=1.5 in NVT", thread_id="C9:1", user_id="U7"
    )
    assert turn.outcome == "success"
    brain.feedback(turn.turn_id, 1, "U7", "nice")
    (row,) = brain.journal.turns("C9:1")
    assert row.intent == "generate" and row.user_id == "U7" and row.outcome == "success"
    assert [a.origin for a in row.attempts] == ["model", "repair:model"]
    assert row.attempts[0].check_status == "error" and row.attempts[1].run_status == "ok"
    assert row.attempts[1].critique["judge"]["task_completion"] == 9
    assert 0 < row.attempts[1].score <= 1 and row.attempts[1].success
    assert {r.purpose for r in row.retrievals} == {"passages", "examples"}
    assert row.answers[0].script.strip() == GOOD_LJ.strip()
    assert row.model_calls == 3 and row.latency_s > 0
    assert row.feedback[0].rating == 1 and row.feedback[0].comment == "nice"
    with pytest.raises(KeyError):
        brain.feedback("no-such-turn", 1)


def test_attached_data_file_is_staged_and_kept_for_follow_ups(make_brain, tmp_path):
    data = tmp_path / "data.two"
    data.write_text(
        "two atoms\n\n2 atoms\n1 atom types\n\n0 10 xlo xhi\n0 10 ylo yhi\n0 10 zlo zhi\n\n"
        "Masses\n\n1 1.0\n\nAtoms # atomic\n\n1 1 1.0 1.0 1.0\n2 1 2.2 1.0 1.0\n"
    )
    script = tmp_path / "in.two"
    script.write_text(
        "units lj\natom_style atomic\nread_data data.two\npair_style lj/cut 2.5\npair_coeff 1 1 1.0 1.0\n"
        "fix 1 all nve\nthermo 10\nrun 50\n"
    )
    brain = make_brain(retrieval=False)
    turn = brain.ask("run these", [script, data], thread_id="T1")
    assert turn.outcome == "success", turn.answer
    assert turn.result["final_step"] == 50
    # the data file stays with the thread: a pasted script in a later message can read it too
    turn = brain.ask(
        f"and this one\n```\n{script.read_text().replace('run 50', 'run 20')}```", thread_id="T1"
    )
    assert turn.outcome == "success" and turn.result["final_step"] == 20


def test_a_user_who_may_not_run_gets_the_script_unrun(make_brain):
    brain = make_brain(code=model(lammps(GOOD_LJ)), retrieval=False)
    turn = brain.ask("write a LAMMPS script for an LJ liquid at T*=1.5 in NVT", may_run=False)
    assert turn.intent == "generate" and turn.outcome == "not_run"
    assert not turn.attempts and turn.result is None
    assert "pair_coeff 1 1 1.0 1.0 2.5" in turn.answer and "did not start a sandbox job" in turn.answer
    (row,) = brain.journal.turns(turn.thread_id)
    assert row.outcome == "not_run" and not row.attempts
