"""`mdbot eval retrieval` over the shared small knowledge base: metrics, reports, resume."""

from __future__ import annotations

import json

from mdbot.evals.retrieval import evaluate


def test_retrieval_eval_writes_reports_and_resumes(searcher, tmp_path):
    queries = tmp_path / "q.jsonl"
    rows = [
        {
            "id": "a",
            "query": "Nose-Hoover thermostat damping parameter Tdamp",
            "gold": ["fix_nh"],
            "type": "concept",
        },
        {"id": "b", "query": "compute msd", "gold": ["compute_msd"], "type": "command"},
        {"id": "c", "query": "no such thing whatsoever", "gold": ["not_a_page"], "type": "command"},
    ]
    queries.write_text("\n".join(json.dumps(r) for r in rows) + '\n{"id": "bad"}\n')
    out = tmp_path / "report"
    seen = []
    doc = evaluate(queries, out, searcher, "all-MiniLM-L6-v2", on_item=lambda i, n: seen.append((i, n)))
    assert doc["kind"] == "retrieval" and doc["n"] == 3 and seen[-1] == (3, 3)
    assert doc["metrics"]["R@1"] == round(2 / 3, 4)  # a and b found first, c cannot be
    assert doc["by"]["type"]["command"]["n"] == 2 and doc["by"]["type"]["concept"]["R@1"] == 1.0
    assert doc["bad_lines"][0]["line"] == 4
    for name in ("report.json", "report.md", "chart.png", "results.jsonl"):
        assert (out / name).is_file()
    assert (out / "chart.png").read_bytes().startswith(b"\x89PNG")
    assert "| all |" in (out / "report.md").read_text()

    # a rerun resumes: nothing is searched again
    class NoSearch:
        def search(self, *a, **k):
            raise AssertionError("searched again")

    again = evaluate(queries, out, NoSearch(), "all-MiniLM-L6-v2")
    assert again["metrics"] == doc["metrics"]


def test_cli_eval_retrieval(knowledge, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from mdbot.cli import app

    settings, _pages, _docs = knowledge
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"id": "a", "query": "mean squared displacement", "gold": ["compute_msd"]}\n')
    runner = CliRunner()
    monkeypatch.setenv("MDBOT_DATA_DIR", str(settings.data_dir))
    result = runner.invoke(app, ["eval", "retrieval", str(queries), "--out", str(tmp_path / "r"), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["kind"] == "retrieval" and doc["n"] == 1 and doc["metrics"]["R@5"] == 1.0
    assert doc["settings"]["knowledge_base"].endswith("knowledge") and doc["by"]["type"]["all"]["n"] == 1
    monkeypatch.setenv("MDBOT_DATA_DIR", str(tmp_path / "empty"))
    empty = runner.invoke(app, ["eval", "retrieval", str(queries), "--json"])
    assert empty.exit_code == 2 and "empty" in json.loads(empty.stdout)["message"]
