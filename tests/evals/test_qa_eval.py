"""``mdbot eval qa`` against a scripted OpenAI-compatible server: the sample files, scored by hand.

Replies (and so the expected accuracies) per question:
  Knowledge 1 single   "Answer: B"                          gold B      → 1
  Knowledge 2 multiple "Answer: A, B"                       gold A,B,D  → 0 (no partial credit)
  Knowledge 3 fill     "Answer: **ps**."                    "picoseconds | ps" → 1 (normalized)
  Knowledge 4 open     judge says 0.55                      → 0.5 (snapped to the rubric's scale)
  Syntax 1    single   "Answer: A" alone, "B" with passages gold B      → 0 / 1
  Syntax 2    fill     "mean-squared displacement"          "msd" → judge: correct → 1
Without retrieval: Knowledge 2.5/4 = 0.625, Syntax 1/2 = 0.5, headline (0.625 + 0.5) / 2 = 0.5625.
With retrieval: Knowledge 0.625, Syntax 1.0, headline 0.8125; retrieval adds 0.25.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mdbot.evals.qa import evaluate, final_answer
from tests.graph.openai_server import last_user_message, schema_name

DATA = Path(__file__).parent / "data"
FILES = [DATA / "Knowledge.jsonl", DATA / "Syntax.jsonl"]


def responder(body: dict) -> str:
    user = last_user_message(body)
    name = schema_name(body)
    if name == "OpenVerdict":
        return json.dumps({"score": 0.55, "reason": "right idea, no value given"})
    if name == "BlankVerdict":
        return json.dumps({"correct": "mean-squared displacement" in user, "reason": "same quantity"})
    if "Nose-Hoover thermostat?" in user:
        return "Nose-Hoover is `fix nvt`.\nAnswer: B"
    if "valid LAMMPS unit styles" in user:
        return "Answer: A, B"
    if "the timestep is measured in" in user:
        return "Answer: **ps**."
    if "Tdamp" in user:
        return "It sets how fast the temperature relaxes."
    if "skin distance" in user:
        return "Answer: B" if "Passages from" in user else "Answer: A"
    if "mean-squared displacement" in user:
        return "Answer: mean-squared displacement"
    raise AssertionError(f"unexpected question: {user[:200]}")


@pytest.fixture
def models(serve, roles):
    """(server, model, judge) on the scripted endpoint, with an API key as a real server would want."""
    server = serve(responder, api_key="k")
    return (server, *roles())


def test_qa_scores_match_the_hand_computed_values(models, searcher, tmp_path):
    server, model, judge = models
    out = tmp_path / "qa"
    seen = []
    doc = evaluate(FILES, out, model, judge=judge, searcher=searcher, concurrency=3,
                   on_item=lambda i, n: seen.append((i, n)), model_ids={"model": "md-instruct"})  # fmt: skip
    m = doc["metrics"]
    assert doc["kind"] == "qa" and doc["n"] == 6 and seen[-1] == (12, 12)
    assert m["accuracy_no_retrieval"] == 0.5625 and m["accuracy_retrieval"] == 0.8125
    assert m["accuracy"] == 0.8125 and m["retrieval_gain"] == 0.25
    assert m["micro_accuracy_no_retrieval"] == round(3.5 / 6, 4)
    by = doc["by"]
    assert by["file"]["Knowledge"] == {"n": 4, "no_retrieval": 0.625, "retrieval": 0.625}
    assert by["file"]["Syntax"] == {"n": 2, "no_retrieval": 0.5, "retrieval": 1.0}
    assert by["type"]["single_choice"] == {"n": 2, "no_retrieval": 0.5, "retrieval": 1.0}
    assert by["type"]["open_qa"]["no_retrieval"] == 0.5
    assert by["difficulty"]["medium"] == {"n": 2, "no_retrieval": 0.0, "retrieval": 0.5}
    # the retrieval condition got passages; the other did not
    users = [last_user_message(r) for r in server.requests if schema_name(r) is None]
    assert len(users) == 12 and sum("Passages from" in u for u in users) == 6
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    blank = next(r for r in rows if r["file"] == "Syntax" and r["id"] == "2")
    assert blank["scored_by"] == "judge" and blank["score"] == 1.0 and blank["tokens"]["output"] > 0
    report = (out / "report.md").read_text()
    assert "## By file" in report and "| Knowledge | 4 | 0.625 | 0.625 |" in report
    assert (out / "chart.png").read_bytes().startswith(b"\x89PNG")
    assert json.loads((out / "report.json").read_text())["provenance"]["commit"]


def test_qa_resumes_and_retries_only_what_failed(serve, roles, tmp_path):
    def flaky(body):
        if "skin distance" in last_user_message(body):
            raise RuntimeError("GPU fell over")  # a 500 from the endpoint
        return responder(body)

    out = tmp_path / "qa"
    server = serve(flaky)
    model, judge = roles()
    first = evaluate(FILES, out, model, judge=judge, conditions=("no_retrieval",))
    assert [e["key"] for e in first["errors"]] == ["no_retrieval/Syntax/1"]
    assert first["n"] == 5 and "1 item(s) failed" in (out / "report.md").read_text()
    server.responder = responder
    before = len(server.requests)
    second = evaluate(FILES, out, model, judge=judge, conditions=("no_retrieval",))
    assert len(server.requests) - before == 1  # only the failed question is asked again
    assert second["errors"] == [] and second["metrics"]["accuracy"] == 0.5625


def test_a_judge_outage_is_retried_not_kept_unjudged(serve, roles, tmp_path):
    def judge_down(body):
        if schema_name(body) == "OpenVerdict":
            raise RuntimeError("judge server restarting")
        return responder(body)

    out = tmp_path / "qa"
    server = serve(judge_down)
    model, judge = roles()
    first = evaluate(FILES, out, model, judge=judge, conditions=("no_retrieval",))
    assert [e["key"] for e in first["errors"]] == ["no_retrieval/Knowledge/4"]
    server.responder = responder
    second = evaluate(FILES, out, model, judge=judge, conditions=("no_retrieval",))
    assert second["metrics"]["unjudged_no_retrieval"] == 0 and second["metrics"]["accuracy"] == 0.5625


def test_no_judge_leaves_open_questions_unscored(models, tmp_path):
    _server, model, _judge = models
    doc = evaluate(FILES, tmp_path / "qa", model, judge=None, conditions=("no_retrieval",))
    m = doc["metrics"]
    # open question left out; the fill-blank the judge would have accepted counts by the strict match (0)
    assert m["unjudged_no_retrieval"] == 2
    assert doc["by"]["file"]["Knowledge"]["no_retrieval"] == round(2 / 3, 4)
    assert doc["by"]["file"]["Syntax"]["no_retrieval"] == 0.0


def test_final_answer_of_a_fill_blank_reply():
    assert final_answer("Metal units use ps.\nAnswer: picoseconds") == "picoseconds"
    assert final_answer("答案：ps") == "ps"
    assert final_answer("just this\n\n") == "just this"


def test_cli_qa_json_and_errors(models, tmp_path):
    from mdbot.cli import app

    runner = CliRunner()
    out = tmp_path / "cli-qa"
    args = ["eval", "qa", *map(str, FILES), "--retrieval", "off", "--out", str(out), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["kind"] == "qa" and doc["n"] == 6 and doc["metrics"]["accuracy"] == 0.5625
    assert doc["out"] == str(out) and "@http://127.0.0.1" in doc["model"]
    bad = runner.invoke(app, ["eval", "qa", str(tmp_path / "nope.jsonl"), "--retrieval", "off", "--json"])
    assert bad.exit_code == 2 and "not found" in json.loads(bad.stdout)["message"]
    wrong = runner.invoke(app, ["eval", "qa", str(FILES[0]), "--retrieval", "maybe"])
    assert wrong.exit_code == 2

    def down(body):
        raise RuntimeError("no such model")

    server, *_ = models
    server.responder = down
    failed = runner.invoke(
        app, ["eval", "qa", str(FILES[1]), "--retrieval", "off", "--out", str(tmp_path / "x"), "--json"]
    )
    assert failed.exit_code == 1 and "every item failed (2)" in json.loads(failed.stdout)["message"]
    # the same --out with another model is refused rather than mixed
    server.responder = responder
    other = runner.invoke(app, ["eval", "qa", *map(str, FILES), "--retrieval", "off", "--model", "other",
                                "--out", str(out), "--json"])  # fmt: skip
    assert other.exit_code == 2 and "other model" in json.loads(other.stdout)["message"]
