"""MD-EvalBench scoring on hand-computed cases."""

from __future__ import annotations

import base64
import json

import pytest

from mdbot.evals.scoring import (
    load_qa,
    normalize_blank,
    parse_choice,
    retrieval_metrics,
    score_choice,
    score_fill_blank,
)


def b64(value) -> str:
    return "BASE64:" + base64.b64encode(json.dumps(value).encode()).decode()


def test_load_qa_decodes_base64_and_reports_bad_lines(tmp_path):
    lines = [
        {"id": "k1", "type": "single_choice", "question": "Which fix is NVT?", "options": {"A": "nve", "B": "nvt"},
         "answer": b64(["B"]), "difficulty": "easy", "tags": ["thermostat"]},
        {"id": "k2", "type": "fill_blank", "question": "units ___ uses Angstrom and eV", "answer_text": b64("metal")},
        {"id": "k3", "type": "single_choice", "question": "?", "options": {"A": "x"}, "answer": ["C"]},
        {"id": "k4", "type": "essay", "question": "?"},
        {"id": "k1", "type": "open_qa", "question": "again?"},
    ]  # fmt: skip
    f = tmp_path / "Knowledge.jsonl"
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    items, bad = load_qa(f)
    assert [i.id for i in items] == ["k1", "k2"]
    assert items[0].answer == ["B"] and items[0].source == "Knowledge" and items[1].answer_text == "metal"
    assert [b["line"] for b in bad] == [3, 4, 5, 6]
    assert "duplicate id" in bad[2]["reason"]
    assert "answer letters" in bad[0]["reason"] and "type must be" in bad[1]["reason"]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Answer: B", ["B"]),
        ("The answer is A and C.", ["A", "C"]),
        ("答案：B、D", ["B", "D"]),
        ("(C) because fix nvt thermostats", ["C"]),
        ("I think B is right, not A", ["A", "B"]),  # no "answer:" marker: every lone letter counts
        ("Answer: E", []),  # not an option
        ("The answer is not obvious: B fits the units, C does not.\nAnswer: B", ["B"]),  # the last marker
        ("**Answer:** (D)", ["D"]),
        ("Answer: ABD", ["A", "B", "D"]),
        ("Answer: B and D, since A is wrong", ["B", "D"]),
        ("Answer: Because C is a thermostat", ["C"]),  # no letter list after the marker: lone letters
        ("Answer: C\n\nA uses fix nve, B uses fix npt.", ["C"]),  # the explanation below does not count
        ("Answer: A, C\nReason: B is wrong", ["A", "C"]),
        ("Answer: D Note: A is tempting", ["D"]),
    ],
)
def test_parse_choice(reply, expected):
    assert parse_choice(reply, {"A": "a", "B": "b", "C": "c", "D": "d"}) == expected


def test_choice_scores_are_exact_set_matches():
    assert score_choice(["B"], ["B"]) == 1.0
    assert score_choice(["A", "C"], ["C", "A"]) == 1.0
    assert score_choice(["A"], ["A", "C"]) == 0.0  # no partial credit
    assert score_choice([], []) == 0.0


def test_fill_blank_normalization_and_judge_fallback():
    assert normalize_blank("  **Metal**. ") == "metal"
    assert normalize_blank("1.50 fs") == "1.5 fs" and normalize_blank("2.0") == "2"
    assert score_fill_blank("`metal`", "metal") == 1.0
    assert score_fill_blank("real", "metal | real") == 1.0
    assert score_fill_blank("electron", "metal") is None  # the judge decides


def test_retrieval_metrics_by_hand():
    ranked = [["a", "b", "c"], ["x", "y", "gold2"], ["p"] * 10]
    golds = [["a"], ["gold2"], ["zzz"]]
    m = retrieval_metrics(ranked, golds)
    assert m == {
        "R@1": round(1 / 3, 4),
        "R@5": round(2 / 3, 4),
        "R@10": round(2 / 3, 4),
        "MRR": round((1 + 1 / 3) / 3, 4),
    }


def test_malformed_records_are_bad_lines_not_crashes(tmp_path):
    ok = {"type": "single_choice", "question": "q?", "options": {"A": "x", "B": "y"}, "answer": ["A"]}
    lines = [
        {**ok, "id": None},  # a null id is the line's default id, so two of them do not collide
        {**ok, "id": None},
        {**ok, "options": ["x", "y"]},
        {**ok, "options": {"a": "x", " A": "y"}},
        {**ok, "answer": {"A": True}},
        {**ok, "answer": ["A", "B"]},  # single choice, two answers
        {"type": "fill_blank", "question": "units ___", "answer_text": ["metal", "real"]},
        {"type": "open_qa", "question": "why?"},  # nothing to score against
        {**ok, "id": {"nested": 1}},
    ]
    text = "\n".join(json.dumps(x) for x in lines) + "\n" + "[" * 100_000 + "\n7\n"
    f = tmp_path / "Odd.jsonl"
    f.write_text(text)
    items, bad = load_qa(f)
    assert [i.id for i in items] == ["Odd-1", "Odd-2", "Odd-7"]
    assert items[2].answer_text == "metal | real" and score_fill_blank("real", items[2].answer_text) == 1.0
    reasons = {b["line"]: b["reason"] for b in bad}
    assert sorted(reasons) == [3, 4, 5, 6, 8, 9, 10, 11]
    assert "options must be an object" in reasons[3] and "given twice" in reasons[4]
    assert "list of option letters" in reasons[5] and "one answer, not 2" in reasons[6]
    assert (
        "needs answer_text" in reasons[8]
        and "id must be" in reasons[9]
        and "not a JSON object" in reasons[11]
    )


def test_unreadable_and_empty_files_are_usage_errors(tmp_path):
    from mdbot.evals.retrieval import load_queries
    from mdbot.evals.scoring import BenchFileError

    with pytest.raises(BenchFileError, match="not found"):
        load_qa(tmp_path / "missing.jsonl")
    garbage = tmp_path / "q.jsonl"
    garbage.write_text('{"id": 1, "query": "x"}\nnot json\n')
    with pytest.raises(BenchFileError, match="no usable queries"):
        load_queries(garbage)
