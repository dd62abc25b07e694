"""``mdbot finetune export`` over a journal filled by real graph turns (scripted models, the real sandbox)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mdbot.finetune import formats
from mdbot.finetune.export import ExportError, ExportOptions, export, iter_jsonl, parse_date
from tests.conftest import requires_bwrap
from tests.graph.fakes import BROKEN_LJ, GOOD_LJ, lammps, model

pytestmark = requires_bwrap

THERMOSTAT_Q = "How do I use a Nose-Hoover thermostat? <@U0SECRET> asked too"
THERMOSTAT_A = "Use `fix nvt` with a damping time of about 100 timesteps [1].\n\n```lammps\nfix 1 all nvt temp 300.0 300.0 100.0\n```"
BAD_Q = "What does fix langevin do?"
BAD_A = "It adds a barostat."  # rated 👎
ACCEPTED_Q = "What is a neighbor list skin?"
ACCEPTED_A = "The extra distance beyond the cutoff [2] that lets LAMMPS rebuild the list less often."
LJ_TASK = "write a LAMMPS script for an LJ liquid at T*=1.5 in NVT"
DOWN_TASK = "write a LAMMPS script for an LJ gas at T*=3"
HOT_LJ = GOOD_LJ.replace("1.5 1.5 0.5", "3.0 3.0 0.5").replace("create 1.5", "create 3.0")
DATA = (
    "two atoms\n\n2 atoms\n1 atom types\n\n0 10 xlo xhi\n0 10 ylo yhi\n0 10 zlo zhi\n\n"
    "Masses\n\n1 1.0\n\nAtoms # atomic\n\n1 1 1.0 1.0 1.0\n2 1 2.2 1.0 1.0\n"
)


def _qa(make_brain, root, question, answer, **kw):
    brain = make_brain(
        instruct=model({"intent": "qa", "reason": "a question"}, answer), retrieval=False, data_dir=root
    )
    turn = brain.ask(question, **kw)
    assert turn.intent == "qa" and turn.outcome == "answered", turn.answer
    return brain, turn


@pytest.fixture(scope="module")
def journal(make_module_brain, tmp_path_factory):
    """A journal of real turns, built once for the module (its tests only read it): 👍 Q&A (asked twice),
    👎 Q&A, an accepted Q&A followed by a repaired generate turn with an attached file, a 👎 generate turn,
    and a generate turn whose attached file is gone."""
    make_brain, tmp_path = make_module_brain, tmp_path_factory.mktemp("journal")
    root = tmp_path / "bot"
    brain, turn = _qa(
        make_brain, root, THERMOSTAT_Q, THERMOSTAT_A, thread_id="C1:1", user_id="U1", channel="C1"
    )
    brain.feedback(turn.turn_id, 1, "U1")
    brain, turn = _qa(
        make_brain, root, THERMOSTAT_Q, THERMOSTAT_A, thread_id="C1:9", user_id="U1", channel="C1"
    )
    brain.feedback(turn.turn_id, 1, "U1")  # the same pair again: exported once
    brain, turn = _qa(make_brain, root, BAD_Q, BAD_A, thread_id="C1:2", user_id="U1", channel="C1")
    brain.feedback(turn.turn_id, -1, "U1")
    # accepted: no rating, and the same user went on in the thread (with the generate turn below)
    _qa(make_brain, root, ACCEPTED_Q, ACCEPTED_A, thread_id="C2:1", user_id="U2", channel="C2")
    data = tmp_path / "uploads" / "data.two"
    data.parent.mkdir()
    data.write_text(DATA)
    brain = make_brain(
        instruct=model({"intent": "generate", "reason": "asks for a script"}),
        code=model(lammps(BROKEN_LJ), lammps(GOOD_LJ, "Fixed the keyword.")),
        retrieval=False,
        data_dir=root,
    )
    turn = brain.ask(f"<@U0BOT> {LJ_TASK}", [data], thread_id="C2:1", user_id="U2", channel="C2")
    assert turn.outcome == "success" and [a["origin"] for a in turn.attempts] == ["model", "repair:model"]
    brain = make_brain(
        instruct=model({"intent": "generate", "reason": "asks for a script"}),
        code=model(lammps(HOT_LJ)),
        retrieval=False,
        data_dir=root,
    )
    turn = brain.ask(DOWN_TASK, thread_id="C3:1", user_id="U3", channel="C3")
    assert turn.outcome == "success"
    brain.feedback(turn.turn_id, -1, "U3")
    gone = tmp_path / "uploads" / "gone.data"
    gone.write_text(DATA)
    brain = make_brain(
        instruct=model({"intent": "generate", "reason": "asks for a script"}),
        code=model(lammps(GOOD_LJ.replace("thermo 50", "thermo 100"))),
        retrieval=False,
        data_dir=root,
    )
    turn = brain.ask(
        "write an LJ run with thermo output every 100 steps",
        [gone],
        thread_id="C3:2",
        user_id="U3",
        channel="C3",
    )
    assert turn.outcome == "success", turn.answer
    gone.unlink()
    return brain.settings.journal_url, data


def _read(out: Path, name: str) -> list[dict]:
    return [*iter_jsonl(out / f"{name}.train.jsonl"), *iter_jsonl(out / f"{name}.test.jsonl")]


def _export(tmp_path, url, name="out", **kw) -> tuple[Path, dict]:
    out = tmp_path / name
    return out, export(ExportOptions(out=out, journal_url=url, **kw))


def _user(record: dict) -> str:
    return next(m["content"] for m in record["messages"] if m["role"] == "user")


def _assistant(record: dict) -> str:
    return next(m["content"] for m in record["messages"] if m["role"] == "assistant")


# -------------------------------------------------------------------------------------------- datasets
def test_journal_exports_to_every_file(journal, tmp_path):
    url, data = journal
    out, manifest = _export(tmp_path, url, heldout=0.0)
    sft = _read(out, "sft")
    qa = {_user(r): _assistant(r) for r in sft if r["kind"] == "qa"}
    # the 👍 pair once (deduplicated), the accepted one, never the 👎 one; citations and mentions gone
    assert qa == {
        "How do I use a Nose-Hoover thermostat? @user asked too": THERMOSTAT_A.replace(" [1]", ""),
        ACCEPTED_Q: ACCEPTED_A.replace(" [2]", ""),
    }
    assert manifest["turns"]["qa_rated"] == 2 and manifest["turns"]["qa_accepted"] == 1
    assert manifest["duplicates"]["sft"] >= 1
    code = [r for r in sft if r["kind"] == "code"]
    assert len(code) == 2  # the repaired LJ liquid and the thermo-100 run; not the 👎 LJ gas
    lj = next(r for r in code if LJ_TASK in _user(r))
    assert [m["role"] for m in lj["messages"]] == ["system", "user", "assistant"]
    assert lj["messages"][0]["content"] == formats.CODE_SYSTEM
    assert _assistant(lj) == f"```lammps\n{GOOD_LJ.strip()}\n```"
    assert _user(lj).startswith(LJ_TASK) and "data.two" in _user(lj)
    # recycled: the failed script and its error → the repaired script
    (repair,) = _read(out, "recycled")
    assert repair["kind"] == "repair"
    assert "fix 1 all nvt temperature" in _user(repair) and LJ_TASK in _user(repair)
    assert "Error:" in _user(repair) and "Line:" in _user(repair)
    assert _assistant(repair) == formats.code_reply(GOOD_LJ)
    # cpt: every healthy script (not the 👎 turn's), no knowledge base asked for
    cpt = _read(out, "cpt")
    assert {r["kind"] for r in cpt} == {"script"} and len(cpt) == 2
    assert all("temp 3.0" not in r["text"] for r in cpt)
    # grpo: the files that still exist, copied next to the dataset; the vanished one counted
    grpo = {r["task"]: r for r in _read(out, "grpo")}
    assert set(grpo) == {LJ_TASK, "write an LJ run with thermo output every 100 steps"}
    files = grpo[LJ_TASK]["files"]
    assert list(files) == ["data.two"] and Path(files["data.two"]).is_absolute()
    assert Path(files["data.two"]).read_text() == data.read_text()
    assert Path(files["data.two"]).is_relative_to(out)
    assert grpo["write an LJ run with thermo output every 100 steps"]["files"] == {}
    assert manifest["grpo_files"]["skipped_missing"] == 1
    assert grpo[LJ_TASK]["prompt"] == lj["messages"][:2]  # the SFT prompt is the GRPO prompt
    # nothing that names a user, channel or thread, anywhere
    everything = "".join((out / f).read_text() for f in manifest["files"])
    for secret in ("U0SECRET", "U0BOT", "U1", "U2", "C1:1", "C2:1", "meta"):
        assert secret not in everything
    assert manifest["turns"]["thumbs_down"] == 2
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_keep_users_puts_ids_in_meta(journal, tmp_path):
    url, _data = journal
    out, _manifest = _export(tmp_path, url, keep_users=True)
    sft = _read(out, "sft")
    assert all(set(r["meta"]) == {"turn_id", "thread_id", "user_id", "channel", "source"} for r in sft)
    lj = next(r for r in sft if LJ_TASK in _user(r))
    assert (
        lj["meta"]["user_id"] == "U2" and lj["meta"]["thread_id"] == "C2:1" and lj["meta"]["channel"] == "C2"
    )
    assert _user(lj).startswith(f"<@U0BOT> {LJ_TASK}")


def test_filters(journal, tmp_path):
    url, _data = journal
    _out, manifest = _export(tmp_path, url, "c2", channels=["C2"])
    assert manifest["kinds"]["sft"] == {"code": 1, "qa": 1} and manifest["turns"]["filtered_channel"] == 5
    _out, manifest = _export(tmp_path, url, "future", since=parse_date("2999-01-01"))
    assert manifest["turns"]["used"] == 0 and manifest["turns"]["filtered_date"] == 7
    assert sum(manifest["files"].values()) == 0
    _out, manifest = _export(tmp_path, url, "past", until=parse_date("2000-01-01", end=True))
    assert manifest["turns"]["used"] == 0
    _out, manifest = _export(
        tmp_path, url, "today", since=parse_date("2000-01-01"), until=parse_date("2999-12-31")
    )
    assert manifest["turns"]["used"] == 5  # all but the two 👎
    # a higher bar for ratings: the 👍 answers no longer qualify, the accepted one still does
    out, manifest = _export(tmp_path, url, "strict", min_rating=2)
    assert [_user(r) for r in _read(out, "sft") if r["kind"] == "qa"] == [ACCEPTED_Q]
    with pytest.raises(ExportError):
        parse_date("yesterday")
    with pytest.raises(ExportError):
        _export(tmp_path, url, "bad", heldout=1.0)


def test_heldout_split_is_deterministic_and_disjoint(tmp_path):
    lines = [
        json.dumps({"task": f"simulate system number {i}", "code": f"units lj\nrun {i}"}) for i in range(60)
    ]
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("\n".join(lines) + "\n")

    def split(name: str, seed: int) -> dict[str, tuple[set, set]]:
        out = tmp_path / name
        export(ExportOptions(out=out, imports=[pairs], heldout=0.3, seed=seed))
        return {
            n: (
                {r["id"] for r in iter_jsonl(out / f"{n}.train.jsonl")},
                {r["id"] for r in iter_jsonl(out / f"{n}.test.jsonl")},
            )
            for n in ("sft", "grpo")
        }

    first, again, other = split("a", 0), split("b", 0), split("c", 1)
    assert first == again  # deterministic
    train, test = first["sft"]
    assert not train & test and len(train | test) == 60 and 8 <= len(test) <= 30
    assert other["sft"][1] != test  # the seed moves the split
    # one task, one side: the split hashes the task part of the id, the same in sft and grpo
    task_part = {n: {i.split("-")[1] for i in first[n][1]} for n in ("sft", "grpo")}
    assert task_part["sft"] == task_part["grpo"]


def test_mdagent_import_with_base64_and_bad_lines(tmp_path):
    def b64(value) -> str:
        return "BASE64:" + base64.b64encode(json.dumps(value).encode()).decode()

    mdagent = tmp_path / "mdagent.jsonl"
    mdagent.write_text(
        "\n".join(
            [
                json.dumps({"task": b64("Simulate liquid argon at 85 K"), "standrd_code": b64(GOOD_LJ)}),
                "{not json",
                json.dumps({"task": "Equilibrate an LJ crystal", "standrd_code": f"```lammps\n{GOOD_LJ}```"}),
                json.dumps({"task": "missing code"}),
                json.dumps({"task": "BASE64:!!!", "standrd_code": "x"}),
                json.dumps({"instruction": "Melt an LJ solid", "completion": HOT_LJ}),
            ]
        )
        + "\n"
    )
    out = tmp_path / "out"
    manifest = export(ExportOptions(out=out, imports=[mdagent], heldout=0.0))
    (report,) = manifest["imports"]
    assert [b["line"] for b in report["bad_lines"]] == [2, 4, 5] and report["pairs"] == 3
    sft = {_user(r): _assistant(r) for r in _read(out, "sft")}
    assert sft["Simulate liquid argon at 85 K"] == formats.code_reply(GOOD_LJ)
    assert sft["Equilibrate an LJ crystal"] == formats.code_reply(GOOD_LJ)  # the fence is not doubled
    assert sft["Melt an LJ solid"] == formats.code_reply(HOT_LJ)
    grpo = _read(out, "grpo")
    assert sorted(r["task"] for r in grpo) == sorted(sft) and all(r["files"] == {} for r in grpo)
    assert formats.decode_mdagent(b64({"a": [1, 2]})) == {"a": [1, 2]} and formats.decode_mdagent("x") == "x"
    with pytest.raises(ExportError):
        export(ExportOptions(out=tmp_path / "x", imports=[tmp_path / "missing.jsonl"]))


def test_knowledge_base_documents_go_to_cpt(knowledge, tmp_path):
    settings, _pages, _docs = knowledge
    out, manifest = _export(tmp_path, None, knowledge=settings, heldout=0.0)
    cpt = {r["source"]: r for r in _read(out, "cpt")}
    assert manifest["knowledge_documents"] == len(cpt) > 20
    assert {r["kind"] for r in cpt.values()} == {"manual", "docs"}  # not the examples or potentials
    nh = next(r for s, r in cpt.items() if s.endswith("fix_nh.rst"))
    # the page's chunks joined in order, its sections as headings
    assert nh["text"].startswith("# ") and "## Description" in nh["text"]
    assert nh["text"].index("## Description") < nh["text"].index("## Restrictions")
    protocols = next(r for s, r in cpt.items() if s.endswith("protocols.md"))
    assert "SPC/E water box for 200 ps" in protocols["text"]


def test_exported_files_load_with_datasets(journal, tmp_path):
    datasets = pytest.importorskip("datasets")
    url, _data = journal
    out, manifest = _export(tmp_path, url, heldout=0.5, seed=3, keep_users=True)
    for name in ("cpt", "sft", "grpo", "recycled"):
        files = {
            split: str(out / f"{name}.{split}.jsonl")
            for split in ("train", "test")
            if manifest["files"][f"{name}.{split}.jsonl"]
        }
        ds = datasets.load_dataset("json", data_files=files)
        assert sum(len(ds[s]) for s in ds) == sum(manifest["counts"][name].values())
    grpo = datasets.load_dataset("json", data_files=str(out / "grpo.*.jsonl"), split="train")
    by_task = {r["task"]: r for r in grpo}
    assert list(by_task[f"<@U0BOT> {LJ_TASK}"]["files"]) == ["data.two"]
    assert by_task[f"<@U0BOT> {LJ_TASK}"]["prompt"][0]["role"] == "system"


# ------------------------------------------------------------------------------------------ CLI
def test_cli_export_json(journal, tmp_path):
    url, _data = journal
    mdbot = Path(sys.executable).with_name("mdbot")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDBOT_")}
    env |= {"MDBOT_DATA_DIR": str(tmp_path / "empty"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = tmp_path / "cli-out"

    def export(*args: str) -> subprocess.CompletedProcess:
        command = [str(mdbot), "finetune", "export", "--out", str(out), "--json", *args]
        # an hour: a hang guard only, so a slow, loaded machine cannot decide the test
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=3600)

    proc = export("--journal", url)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads(proc.stdout)  # exactly one JSON document
    assert manifest["counts"]["sft"]["train"] + manifest["counts"]["sft"]["test"] == 4
    assert manifest["journal"] == url and (out / "manifest.json").is_file()
    assert manifest["knowledge_note"].startswith("no knowledge base")  # the empty data dir has none
    # bad usage: exit 2 with one JSON document
    for args in (["--since", "not-a-date"], ["--import", str(tmp_path / "nope.jsonl")]):
        proc = export(*args)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert json.loads(proc.stdout)["status"] == "usage_error"


def test_helpers_scrub_clean_and_mask():
    from types import SimpleNamespace

    from mdbot.finetune.export import clean_answer, mask_url, scrub, turn_files

    assert (
        scrub("<@U0BOT> ask <@U12|ann> or me@lab.org in <#C9|md>")
        == "ask @user or someone@example.org in #md"
    )
    answer = "Average `c_msd[4]` [1][2]. See x [3].\n\n```lammps\nvariable d equal c_msd[4]\n```\n⚠️ Removed from this answer: fix foo"
    assert clean_answer(answer) == "Average `c_msd[4]`. See x.\n\n```lammps\nvariable d equal c_msd[4]\n```"

    assert turn_files(SimpleNamespace(files=["data.two"])) == {"data.two": None}
    assert turn_files(SimpleNamespace(files={"data.two": "/x/data.two"})) == {"data.two": "/x/data.two"}
    assert mask_url("postgresql://mdbot:s3cret@db:5432/mdbot") == "postgresql://mdbot:***@db:5432/mdbot"
