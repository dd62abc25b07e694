"""``mdbot eval code``: the sample tasks through a scripted OpenAI-compatible server and the real sandbox.

What the scripted code model does, and so what each mode must score (k = 3):
  lj-nvt   first writes a script with a bad fix nvt keyword, then (another sample / the repair) a good one
  cu-npt   answers in prose, never a script
  lj-melt  writes a good script that reads the supplied data.lj
  peptide  never asked: its reference reads data.peptide, which is not supplied (reported as skipped)
direct: ExecSucc@1 1/3, ExecSucc@3 2/3, calls 2 + 3 + 1 → 2.0 per task
loop:   ExecSucc@1 1/3, ExecSucc@3 2/3, calls (write, repair, judge) 3 + (write, reminder) 2 + (write, judge) 2
judge vs reference: 8 for each script, 0 where there is none → (8 + 0 + 8) / 3 in both modes.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mdbot.evals.code import Harness, evaluate, load_tasks, needed_files
from mdbot.evals.scoring import BenchFileError
from tests.graph.fakes import BROKEN_LJ, GOOD_LJ
from tests.graph.openai_server import DEFAULT_JUDGE, last_user_message, schema_name, system_prompt

DATA = Path(__file__).parent / "data"
TASKS = DATA / "code_tasks.jsonl"
MELT = """units lj
atom_style atomic
read_data data.lj
pair_style lj/cut 2.5
pair_coeff 1 1 1.0 1.0 2.5
velocity all create 3.0 87287 loop geom
fix 1 all nve
thermo 100
run 1000
"""


class CodeModel:
    """The scripted endpoint: code model (both prompts), the graph's critique judge, the reference judge."""

    def __init__(self):
        self.asked = Counter()
        self.lock = threading.Lock()

    def __call__(self, body: dict) -> str:
        name = schema_name(body)
        if name == "CodeVerdict":
            return json.dumps({"score": 8, "reason": "does the task"})
        if name == "JudgeVerdict":
            return json.dumps(DEFAULT_JUDGE)
        text = system_prompt(body) + "\n".join(str(m.get("content")) for m in body["messages"])
        user = last_user_message(body)
        direct = "for a molecular-dynamics research lab" in system_prompt(body)
        if "Lennard-Jones liquid of 500 atoms" in text:
            with self.lock:
                self.asked["direct-lj" if direct else "loop-lj"] += 1
                first = self.asked["direct-lj"] == 1 if direct else "must be fixed" not in user
            return f"```lammps\n{BROKEN_LJ if first else GOOD_LJ}```"
        if "fcc copper" in text:
            return "Copper is a metal; I would use EAM."
        if "data.lj" in text:
            return f"Here it is:\n```lammps\n{MELT}```"
        raise AssertionError(f"unexpected request: {user[:300]}")


@pytest.fixture
def endpoint(serve):
    return serve(CodeModel(), api_key="k")


def test_eval_code_both_modes_with_the_real_sandbox(endpoint, settings, searcher, tmp_path):
    from mdbot.graph.models import chat_model

    out = tmp_path / "code"
    harness = Harness(chat_model("code", env_file=None), judge=chat_model("judge", env_file=None),
                      searcher=searcher, sandbox=settings, attempts=3, timeout_s=600, state_dir=out / "state")  # fmt: skip
    doc = evaluate(TASKS, out, harness, concurrency=2, model_ids={"model": "md-code"})
    assert doc["kind"] == "code" and doc["n"] == 3 and doc["errors"] == []
    assert doc["skipped"] == [{"id": "peptide", "missing": ["data.peptide"]}]
    direct, loop = doc["by"]["mode"]["direct"], doc["by"]["mode"]["loop"]
    for m in (direct, loop):
        assert m["exec_succ@1"] == round(1 / 3, 4) and m["exec_succ@k"] == round(2 / 3, 4)
        assert m["judge_score"] == round(16 / 3, 3) and m["judged"] == 3
        assert m["health_pass"] <= m["exec_succ@k"] and m["tokens_per_task"] > 0
    assert direct["calls_per_task"] == 2.0 and loop["calls_per_task"] == round(7 / 3, 3)
    assert doc["metrics"]["exec_succ@k"] == loop["exec_succ@k"] and doc["metrics"]["k"] == 3
    assert doc["metrics"]["skipped"] == 1
    rows = {
        (r["mode"], r["id"]): r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())
    }
    lj = rows[("loop", "lj-nvt")]
    assert [(a["check"], a["run"]) for a in lj["attempts"]] == [("error", None), ("ok", "ok")]
    assert "temperature" in json.dumps(lj["attempts"][0]["error"])
    assert lj["attempts"][1]["origin"] == "repair:model"
    assert rows[("direct", "lj-nvt")]["n_attempts"] == 2 and rows[("direct", "cu-npt")]["n_attempts"] == 3
    assert rows[("loop", "cu-npt")]["judge_reason"] == "no script was produced"
    assert rows[("loop", "cu-npt")]["fidelity"] == 0.0  # asks NPT, units, … and got no script
    assert "ensemble" in rows[("loop", "lj-nvt")]["fidelity_checks"] and loop["fidelity_n"] == 3
    melt = rows[("direct", "lj-melt")]
    assert melt["exec@1"] and "read_data data.lj" in melt["script"]
    assert melt["health_ok"] == rows[("loop", "lj-melt")]["health_ok"]  # the same script, the same verdict
    report = (out / "report.md").read_text()
    assert "Skipped: 1 task(s)" in report and "`peptide`: data.peptide" in report and "| loop | 3 |" in report
    assert (out / "chart.png").read_bytes().startswith(b"\x89PNG")

    # a rerun resumes: nothing is asked or run again
    before = len(endpoint.requests)
    harness = Harness(None, searcher=searcher, sandbox=settings, attempts=3, timeout_s=600)
    again = evaluate(TASKS, out, harness, concurrency=2, model_ids={"model": "md-code"})
    assert len(endpoint.requests) == before and again["by"]["mode"] == doc["by"]["mode"]
    # ... but not with another model: its rows would be reported under the wrong name
    with pytest.raises(BenchFileError, match="other model"):
        evaluate(TASKS, out, harness, model_ids={"model": "md-code-r2"})


def test_load_tasks_formats_and_needed_files(tmp_path):
    ref = "units lj\ninclude setup.in\nread_data ${name}.data\nmolecule w water.mol\nwrite_data out.data\n" \
          "read_data out.data\npair_style eam\npair_coeff 1 1 Cu_u3.eam\nrun 0\n"  # fmt: skip

    class Library:
        def find(self, name):
            return Path(name) if name == "Cu_u3.eam" else None

    assert needed_files(ref, Library()) == ["setup.in", "water.mol"]
    (tmp_path / "setup.in").write_text("mass 1 1.0\n")
    b64 = "BASE64:" + base64.b64encode(json.dumps(ref).encode()).decode()
    array = [{"id": "a", "task": "do it", "standrd_code": b64, "files": ["setup.in"]},
             {"id": "a", "task": "again"}, {"task": ""}, {"task": "no reference at all"},
             {"id": "b", "task": "the same, files unnamed", "reference": ref}]  # fmt: skip
    f = tmp_path / "tasks.json"
    f.write_text(json.dumps(array))
    tasks, bad = load_tasks(f, library=Library())
    assert [t.id for t in tasks] == ["a", "4", "b"] and tasks[0].reference == ref
    assert tasks[0].files == {"setup.in": str((tmp_path / "setup.in").resolve())}
    assert tasks[0].missing == ["water.mol"] and tasks[1].missing == []
    assert tasks[2].files == tasks[0].files and tasks[2].missing == ["water.mol"]  # found next to the tasks
    assert [b["line"] for b in bad] == [2, 3] and "duplicate id" in bad[0]["reason"]


def test_load_tasks_with_a_folder_per_task(tmp_path):
    """The corpus's held-out task file gives each task its own folder of files (``"dir"``)."""
    (tmp_path / "tasks" / "t1").mkdir(parents=True)
    (tmp_path / "tasks" / "t1" / "data.lj").write_text("data\n")
    rows = [{"id": "t1", "task": "melt it", "standrd_code": "read_data data.lj\nrun 10\n", "files": ["data.lj"],
             "dir": "tasks/t1"}, {"id": "t2", "task": "escape", "dir": "../elsewhere"},
            {"id": "t3", "task": "nothing there", "standrd_code": "read_data data.lj\nrun 1\n", "dir": "tasks"}]  # fmt: skip
    f = tmp_path / "code.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tasks, bad = load_tasks(f)
    assert tasks[0].files == {"data.lj": str((tmp_path / "tasks" / "t1" / "data.lj").resolve())}
    assert tasks[1].id == "t3" and tasks[1].missing == ["data.lj"]
    assert bad == [{"line": 2, "reason": '"dir" must be a folder below the task file\'s folder'}]


def test_cli_eval_code_direct(endpoint, monkeypatch, tmp_path):
    from mdbot.cli import app

    monkeypatch.setenv("MDBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MDBOT_PICTURES", "false")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(
        app, ["eval", "code", str(TASKS), "--mode", "direct", "-k", "1", "--no-judge", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (
        doc["kind"] == "code"
        and doc["out"] == "eval-code"
        and doc["metrics"]["exec_succ@1"] == round(1 / 3, 4)
    )
    assert doc["metrics"]["judge_score"] is None  # no judge, no score (not a zero)
    assert (tmp_path / "eval-code" / "report.md").is_file()
    (tmp_path / "bad.jsonl").write_text("not json\n")
    bad = runner.invoke(app, ["eval", "code", str(tmp_path / "bad.jsonl"), "--mode", "direct", "--json"])
    assert bad.exit_code == 2 and "no usable tasks" in json.loads(bad.stdout)["message"]
