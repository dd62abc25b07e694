"""Collections of example inputs as a training source: descriptions, dedup, the split by source directory,
MD-EvalBench kept out, the held-out task file. Pure Python: no model, no LAMMPS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mdbot.finetune.corpus import CorpusError, read_corpus
from mdbot.finetune.export import ExportError, ExportOptions, export
from mdbot.finetune.features import asked, features, fidelity, requirements

MELT = """# 3d Lennard-Jones melt at T* = 3.0
units lj
atom_style atomic
lattice fcc 0.8442
region box block 0 5 0 5 0 5
create_box 1 box
create_atoms 1 box
mass 1 1.0
velocity all create 3.0 87287 loop geom
pair_style lj/cut 2.5
pair_coeff 1 1 1.0 1.0 2.5
fix 1 all nve
run 250
"""
EAM = """units metal
atom_style atomic
read_data data.cu
pair_style eam/alloy
pair_coeff * * Cu.eam.alloy Cu
fix 1 all npt temp 300 300 0.1 iso 0 0 1
compute r all rdf 50
run 1000
"""


def _lab(root: Path) -> Path:
    lab = root / "lab-inputs"
    for d in ("melt", "copper", "zcopy", "MD-EvalBench", f"g{0}", "notes"):
        (lab / d).mkdir(parents=True)
    (lab / "melt" / "README.md").write_text("# Melt\n\nMelting an LJ crystal with velocity rescaling off.\n")
    (lab / "melt" / "in.melt").write_text(MELT)
    (lab / "copper" / "in.cu").write_text(EAM)  # no README, no header comment: described by rules
    (lab / "copper" / "data.cu").write_text("fake data\n")
    (lab / "zcopy" / "in.melt2").write_text("# another copy\n" + MELT.replace("units lj", "units    lj"))
    (lab / "MD-EvalBench" / "in.bench").write_text(MELT.replace("250", "300"))
    (lab / "notes" / "todo.in").write_text("remember to run the melt\n")  # not a LAMMPS input
    for i in range(8):
        d = lab / f"g{i}"
        d.mkdir(exist_ok=True)
        (d / "in.a").write_text(f"# LJ liquid number {i}\n" + MELT.replace("run 250", f"run {100 + i}"))
        (d / "in.b").write_text(f"# its sibling {i}\n" + MELT.replace("run 250", f"run {500 + i}"))
    return lab


def test_lab_folder_descriptions_dedup_and_evalbench(tmp_path):
    examples, report = read_corpus(_lab(tmp_path))
    by_id = {e.id: e for e in examples}
    assert report.kind == "folder" and report.duplicates == 1 and report.excluded_evalbench == 1
    assert "notes__todo.in" not in by_id and not any("MD-EvalBench" in e.id for e in examples)
    melt = by_id["melt__in.melt"]
    assert melt.description_source == "readme" and melt.description.startswith("Melting an LJ crystal")
    assert (
        "Requirements: units lj; atom_style atomic; pair_style lj/cut; NVE ensemble; temperature T = 3."
        in melt.task
    )
    cu = by_id["copper__in.cu"]
    assert cu.description_source == "rules" and "1000 MD steps" in cu.description
    assert "pair_style eam/alloy; elements Cu; NPT ensemble; temperature 300 K" in cu.task
    assert list(cu.files) == ["data.cu"] and not cu.runnable  # Cu.eam.alloy is not beside it
    assert by_id["g3__in.a"].description_source == "header_comment"
    assert by_id["g3__in.a"].group == by_id["g3__in.b"].group != melt.group


def test_missing_folder_and_evalbench_folder_are_refused(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        read_corpus(tmp_path / "nope")
    (tmp_path / "MD-EvalBench").mkdir()
    with pytest.raises(CorpusError, match="evaluation"):
        read_corpus(tmp_path / "MD-EvalBench")
    bench = tmp_path / "MD-EvalBench" / "code.jsonl"
    bench.write_text(json.dumps({"task": "t", "standrd_code": MELT}) + "\n")
    with pytest.raises(ExportError, match="MD-EvalBench"):
        export(ExportOptions(out=tmp_path / "out", imports=[bench]))


def test_export_splits_by_source_directory_and_writes_the_heldout_task_file(tmp_path):
    lab = _lab(tmp_path)
    bench = tmp_path / "bench.jsonl"  # a benchmark that happens to contain g0's script: never trained on
    bench.write_text(json.dumps({"task": "x", "standrd_code": (lab / "g0" / "in.a").read_text()}) + "\n")
    out = tmp_path / "out"
    manifest = export(ExportOptions(out=out, corpora=[lab], exclude=[bench], heldout=0.5, seed=3))
    c = manifest["corpora"][0]
    assert c["used"] == 18 and c["train_examples"] + c["test_examples"] == 18
    assert c["test_examples"] > 0 and c["train_examples"] > 0
    assert manifest["excluded"]["dropped"] == {"sft": 1, "cpt": 1, "grpo": 1}

    def tasks(name, part):
        rows = [json.loads(x) for x in (out / f"{name}.{part}.jsonl").read_text().splitlines()]
        return {r["messages"][1]["content"] if "messages" in r else r["task"] for r in rows}

    train, test = tasks("sft", "train"), tasks("sft", "test")
    assert train and test and not train & test
    for i in range(8):  # siblings share a source directory, so a side of the split
        a = next((t for t in train | test if f"LJ liquid number {i}." in t), None)
        b = next((t for t in train | test if f"its sibling {i}." in t), None)
        if a and b:
            assert (a in train) == (b in train)
    evals = [json.loads(x) for x in Path(c["eval_file"]).read_text().splitlines()]
    assert evals and all(e["task"] in tasks("grpo", "test") for e in evals)
    assert not {e["task"] for e in evals} & tasks("grpo", "train")
    assert all(e["standrd_code"] and (Path(c["eval_file"]).parent / e["dir"]).is_dir() for e in evals)


def test_features_and_fidelity_rules():
    f = features(EAM)
    assert (f.units, f.pair_styles, f.elements, f.ensembles, f.temperatures) == (
        "metal",
        ["eam/alloy"],
        ["Cu"],
        ["NPT"],
        [300.0],
    )
    a = asked("Simulate liquid Cu with an EAM potential in metal units, NVT at 1200 K")
    assert (a.units, a.families, a.elements, a.ensembles, a.temperatures) == (
        "metal",
        ["eam"],
        ["Cu"],
        ["NVT"],
        [1200.0],
    )
    generic = fidelity("Simulate liquid Cu with an EAM potential in metal units, NVT at 1200 K", MELT)
    assert generic["fidelity"] == 0.0 and set(generic["checks"]) == {
        "units",
        "potential",
        "elements",
        "ensemble",
        "temperature",
    }
    right = EAM.replace("npt temp 300 300 0.1 iso 0 0 1", "nvt temp 1200 1200 0.1")
    assert (
        fidelity("Simulate liquid Cu with an EAM potential in metal units, NVT at 1200 K", right)["fidelity"]
        == 1.0
    )
    assert fidelity("Write any script", MELT) == {"fidelity": None, "checks": {}}
    assert fidelity(requirements(features(MELT)), None)["fidelity"] == 0.0  # no script: every ask fails


CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "lammps-scripts"


@pytest.mark.skipif(not (CORPUS / "manifest.jsonl").is_file(), reason="the shared script corpus is not here")
def test_every_corpus_script_meets_its_own_requirements():
    examples, report = read_corpus(CORPUS)
    assert report.kind == "manifest" and report.used > 500
    failing = [e.id for e in examples if fidelity(e.requirements, e.script)["fidelity"] != 1.0]
    assert not failing
