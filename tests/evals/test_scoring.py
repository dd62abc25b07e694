"""MD-EvalBench scoring on hand-computed cases."""

from __future__ import annotations

import base64
import json

import pytest

from evals.scoring import (
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
