"""Pieces of the brain that need neither models nor the sandbox: rules, verification, rubric, repairs."""

from __future__ import annotations

from mdbot.graph.critique import rubric, score
from mdbot.graph.intent import extract_script, guess_intent, rule_intent, script_in_message
from mdbot.graph.repair import fix_mass, fix_style, repeats
from mdbot.graph.verify import CommandChecker, check_answer, citations
from tests.graph.fakes import GOOD_LJ

STYLES = {"fix": ["nvt", "npt", "langevin"], "pair": ["lj/cut", "lj96/cut", "lj/cut/opt"], "command": ["run"]}


def test_rules():
    assert rule_intent("x", {"in.melt": "/p"})[0] == "run"
    assert rule_intent(f"```\n{GOOD_LJ}```", {})[0] == "run"
    assert rule_intent("why?\nERROR on proc 0: Lost atoms: original 10 current 9", {})[0] == "explain"
    assert rule_intent("help", {})[0] == "help"
    assert rule_intent("what is fix nvt?", {"data.lj": "/p"}) is None
    # two words that happen to be commands are not a script
    assert script_in_message("run the simulation\nlonger please") is None
    assert guess_intent("now make it 500 K", has_script=True)[0] == "generate"
    assert guess_intent("now make it 500 K", has_script=False)[0] == "qa"
    assert extract_script("Here:\n```\nunits lj\nrun 10\n```\nDone") == "units lj\nrun 10\n"
    assert extract_script("I cannot do that.") is None


def test_checker_and_stripping():
    checker = CommandChecker(STYLES, {"fix nvt", "fix temp/csvr", "compute msd"}, "test")
    assert (
        checker.judge("fix 1 all nvt temp 1 1 0.1") is None
        or checker.judge("fix 1 all nvt temp 1 1 0.1")[0] == "ok"
    )
    assert checker.judge("fix nvt/turbo") == ("unknown", "fix nvt/turbo")
    assert checker.judge("fix temp/csvr") == ("manual", "fix temp/csvr")
    assert checker.judge("thermostat_magic 300") == ("unknown", "thermostat_magic")
    assert checker.judge("v_temp * 2") is None and checker.judge("Tdamp") is None
    text = "- Use `fix nvt` [1].\n- Or `fix superthermo` [2].\n\nAlso `fix temp/csvr` works. Done."
    v = check_answer(text, checker)
    assert "superthermo" not in v.text.split("⚠️")[0] and v.removed == ["fix superthermo"]
    assert v.not_installed == ["fix temp/csvr"] and "Use `fix nvt`" in v.text
    passages = [{"doc_id": "a", "title": "A"}, {"doc_id": "b", "title": "B"}]
    text, cites = citations("x [2] y [7]", passages)
    assert text == "x [2] y " and [c["doc_id"] for c in cites] == ["b"]


def test_rubric_and_score_by_hand():
    ok = {"status": "ok", "warnings": []}
    run = {
        "status": "ok",
        "health": {"ok": True, "issues": []},
        "thermo": [{"rows": [[0]]}],
        "final_step": 500,
    }
    g = rubric(GOOD_LJ, ok, run)
    # GOOD_LJ uses no variables: 20 of 21 rubric points, no penalties -> 20 * 30/21 -> (that + 10) / 40
    assert sum(g["points"].values()) == 20 and not g["penalties"]
    assert score(g, None) == round((20 * 30 / 21 + 10) / 40, 4)
    assert score(g, {"task_completion": 10}) == 1.0  # 30 points
    assert score(g, {"task_completion": 10, "does_other_task": True}) == round((20 - 20 + 10) / 40, 4)
    failed = rubric(GOOD_LJ, {"status": "error", "error": {"message": "x"}}, None)
    assert failed["penalties"] == {"fails_at_start": 6}
    # Tdamp of 0.5 with dt 0.005 is 100 steps: fine; 0.001 is 0.2 steps: not
    assert rubric(GOOD_LJ.replace("1.5 1.5 0.5", "1.5 1.5 0.001"), ok, run)["points"]["damping_fits"] == 0


def test_deterministic_fixes():
    err = {"message": "Not all per-type masses are set. Type 1 is missing.", "line": 8}
    fixed, _ = fix_mass(GOOD_LJ.replace("mass 1 1.0\n", ""), err)
    assert "create_box 1 box\nmass * 1.0\n" in fixed
    metal = "units metal\nlattice fcc 3.6\nregion b block 0 2 0 2 0 2\ncreate_box 2 b\npair_style eam/alloy\npair_coeff * * CuNi.eam.alloy Cu Ni\nrun 0\n"
    fixed, how = fix_mass(metal, err)
    assert "mass 1 63.5460\nmass 2 58.6934" in fixed and "Cu, Ni" in how
    err = {"message": "Unrecognized pair style 'lj/cutt'", "line": 9}
    fixed, _ = fix_style(GOOD_LJ.replace("lj/cut", "lj/cutt"), err, STYLES)
    assert "pair_style lj/cut 2.5" in fixed
    err = {"message": "Unrecognized fix style 'nvx'", "line": 12}  # nvt and npt are equally close
    assert fix_style(GOOD_LJ.replace("all nvt", "all nvx"), err, STYLES) is None


def test_loop_guard_compares_up_to_the_failing_command():
    failed = {"n": 1, "script": GOOD_LJ, "check": {"status": "error", "error": {"line": 12, "message": "x"}}}
    assert repeats(GOOD_LJ.replace("thermo 50", "thermo 100"), [failed]) == 1  # change after line 12
    assert repeats(GOOD_LJ.replace("0.5", "0.50") + "# note\n", [failed]) == 1  # numbers and comments
    assert repeats(GOOD_LJ.replace("nvt temp", "langevin"), [failed]) is None


def test_migrations_match_the_models(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from mdbot.cluster.store import metadata as cluster_metadata
    from mdbot.graph.journal import Journal
    from mdbot.graph.journal.models import Base

    journal = Journal(f"sqlite:///{tmp_path / 'j.sqlite'}")
    with journal.engine.connect() as conn:  # the journal's migrations also create mdbot.cluster's table
        diff = compare_metadata(MigrationContext.configure(conn), [Base.metadata, cluster_metadata])
    assert diff == []
    Journal(f"sqlite:///{tmp_path / 'j.sqlite'}").close()  # re-opening an up-to-date journal is a no-op


def test_a_journal_behind_the_newest_migration_is_upgraded_when_opened(tmp_path):
    """A journal at HEAD opens without Alembic; HEAD must be Alembic's head, and an older one is upgraded."""
    from alembic import command
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, inspect, text

    from mdbot.graph.journal import Journal
    from mdbot.graph.journal.store import HEAD, alembic_config

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    assert ScriptDirectory.from_config(alembic_config(url)).get_current_head() == HEAD
    command.upgrade(alembic_config(url), "0003")  # a lab's journal from before the Slack homes
    engine = create_engine(url)
    assert "slack_homes" not in inspect(engine).get_table_names()
    Journal(url).close()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
    assert "slack_homes" in inspect(engine).get_table_names()
    engine.dispose()


def test_citations_leave_code_alone():
    passages = [{"doc_id": "a", "title": "A"}, {"doc_id": "b", "title": "B"}]
    text = "Use `v_x[2]` here [1].\n```\nthermo_style custom step c_1[4]\n```\nSee [5]."
    out, cites = citations(text, passages)
    assert "c_1[4]" in out and "`v_x[2]`" in out and "[5]" not in out
    assert [c["n"] for c in cites] == [1]


def test_role_keys_go_only_to_their_own_server(monkeypatch, tmp_path):
    from mdbot.graph.settings import role_settings

    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("MDBOT_LLM_INSTRUCT_BASE_URL", "http://a:8000/v1")
    monkeypatch.setenv("MDBOT_LLM_INSTRUCT_API_KEY", "secret-a")
    monkeypatch.setenv("MDBOT_LLM_INSTRUCT_MODEL", "md-instruct")
    judge = role_settings("judge")
    assert judge.base_url == "http://a:8000/v1" and judge.api_key.get_secret_value() == "secret-a"
    assert judge.temperature == 0.0 and judge.model == "md-instruct"
    monkeypatch.setenv("MDBOT_LLM_CODE_BASE_URL", "http://b:8001/v1")
    code = role_settings("code")
    assert code.base_url == "http://b:8001/v1" and code.api_key is None
