"""Scoring exactly as MD-EvalBench does, so our numbers sit in the same table as MDAgent2's (issue 7).

Pure functions, no models: reading the benchmark's JSON lines (``"BASE64:"`` values decoded), reading a
model's choice letters out of free text, exact set match for choice questions, normalized match for
fill-in-the-blank, and the retrieval metrics. The judge-based parts (open QA, the fill-blank fallback, code
fidelity) call a model and live in ``evals.judge``.
"""

from __future__ import annotations

import json
import re
import statistics
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from mdbot.finetune.formats import decode_mdagent

QA_TYPES = ("single_choice", "multiple_choice", "fill_blank", "open_qa")


class BenchFileError(ValueError):
    """A benchmark file cannot be used; the message names the file and line."""


@dataclass
class QAItem:
    id: str
    type: str
    question: str
    options: dict[str, str] = field(default_factory=dict)
    answer: list[str] = field(default_factory=list)  # letters, for choice questions
    answer_text: str = ""
    difficulty: str = ""
    tags: list[str] = field(default_factory=list)
    source: str = ""  # the file it came from (MD-EvalBench reports per file: Knowledge vs Syntax)


def read_records(path: Path) -> tuple[list[tuple[int, dict]], list[dict]]:
    """(line number, JSON object with ``"BASE64:"`` values decoded) for each usable record of a benchmark
    file — JSON lines, or one JSON array (numbered from 1) — and the bad ones as ``{"line", "reason"}``."""
    path = Path(path)
    if not path.is_file():
        raise BenchFileError(f"benchmark file not found: {path}")
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise BenchFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if text.lstrip().startswith("["):
        try:
            lines = [(i, r) for i, r in enumerate(json.loads(text), start=1)]
        except (ValueError, RecursionError) as exc:
            raise BenchFileError(f"{path} is not valid JSON: {str(exc)[:200]}") from None
    else:
        lines = [(i, line) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
    records, bad = [], []
    for number, line in lines:
        try:
            raw = json.loads(line) if isinstance(line, str) else line
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
            records.append((number, {str(k): decode_mdagent(v) for k, v in raw.items()}))
        except (ValueError, RecursionError) as exc:
            bad.append({"line": number, "reason": str(exc)[:300] or type(exc).__name__})
    return records, bad


def record_id(rec: dict, default: str) -> str:
    """The record's id as text (a missing or null id is the line's default)."""
    value = rec.get("id")
    if value is None:
        return default
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise ValueError(f"id must be text or a number, not {type(value).__name__}")
    return str(value)


def _text(value, what: str) -> str:
    """A text field; a list (several accepted answers) becomes "a | b"."""
    if value is None:
        return ""
    if isinstance(value, list):
        return " | ".join(str(v) for v in value)
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ValueError(f"{what} must be text, not {type(value).__name__}")


def _qa_item(rec: dict, qid: str, source: str) -> QAItem:
    kind = rec.get("type")
    if kind not in QA_TYPES:
        raise ValueError(f"type must be one of {', '.join(QA_TYPES)}, not {str(kind)[:40]!r}")
    question = _text(rec.get("question"), "question")
    if not question.strip():
        raise ValueError("no question")
    raw_options = rec.get("options") or {}
    if not isinstance(raw_options, dict):
        raise ValueError("options must be an object of letter → text")
    options: dict[str, str] = {}
    for key, text in raw_options.items():
        letter = str(key).strip().upper()
        if letter in options:
            raise ValueError(f"option {letter} is given twice")
        options[letter] = _text(text, f"option {letter}")
    answer = rec.get("answer") or []
    if isinstance(answer, str):
        answer = [answer]
    if not isinstance(answer, list) or not all(isinstance(a, str) for a in answer):
        raise ValueError("answer must be a list of option letters")
    letters = sorted({a.strip().upper() for a in answer})
    answer_text = _text(rec.get("answer_text"), "answer_text")
    if kind in ("single_choice", "multiple_choice"):
        if not options or not letters or any(a not in options for a in letters):
            raise ValueError("a choice question needs options and answer letters among them")
        if kind == "single_choice" and len(letters) != 1:
            raise ValueError(f"a single-choice question has one answer, not {len(letters)}")
    elif not answer_text.strip():
        raise ValueError(f"a {kind} question needs answer_text to be scored against")
    tags = rec.get("tags") or []
    return QAItem(id=qid, type=kind, question=question, options=options, answer=letters,
                  answer_text=answer_text, difficulty=_text(rec.get("difficulty"), "difficulty"),
                  tags=[str(t) for t in tags] if isinstance(tags, list) else [str(tags)], source=source)  # fmt: skip


def load_qa(path: Path) -> tuple[list[QAItem], list[dict]]:
    """(items, bad lines as {"line", "reason"}) from an MD-EvalBench Q&A file."""
    records, bad = read_records(path)
    items, seen = [], set()
    for number, rec in records:
        try:
            qid = record_id(rec, f"{Path(path).stem}-{number}")
            if qid in seen:
                raise ValueError(f"duplicate id {qid!r}")
            items.append(_qa_item(rec, qid, Path(path).stem))
            seen.add(qid)
        except Exception as exc:  # noqa: BLE001 - any malformed record is a bad line, never a crash
            bad.append({"line": number, "reason": str(exc)[:300] or type(exc).__name__})
    return items, sorted(bad, key=lambda b: b["line"])


_MARKER = re.compile(r"(?:answers?|选项|答案)(?:\s+(?:is|are))?[\s*:：]*", re.I)
# A list of capital letters at the start of what follows the marker: "B", "(B)", "A, C", "B and D", "ABD", "B、D"
_LEAD = re.compile(r"(?:\(?[A-Z]\)?(?:[ \t]*(?:,|、|和|/|&|\band\b|[ \t])[ \t]*)?)+")
_LONE = re.compile(r"(?<![A-Za-z])\(?([A-Z])\)?(?![A-Za-z])")


def parse_choice(reply: str, options: dict[str, str]) -> list[str]:
    """The letters a model chose: those listed after its last "Answer:" (or "the answer is", "答案："),
    on that line only (an explanation below it names other options), else every option letter standing
    alone in the reply."""
    valid = set(options)
    for m in reversed(list(_MARKER.finditer(reply))):
        rest = reply[m.end() :].split("\n", 1)[0][:80]
        lead = _LEAD.match(rest)
        if not lead:
            continue
        found = re.findall(r"[A-Z]", lead.group())
        if lead.end() < len(rest) and lead.group()[-1].isupper() and rest[lead.end()].islower():
            found = found[:-1]  # the last capital starts a word: "Answer: D Note …", "Answer: Because …"
        letters = {c for c in found if c in valid}
        if letters:
            return sorted(letters)
    return sorted({c for c in _LONE.findall(reply) if c in valid})


def score_choice(predicted: list[str], gold: list[str]) -> float:
    """MD-EvalBench: exact set match (no partial credit for multiple choice)."""
    return 1.0 if set(predicted) == set(gold) and gold else 0.0


def normalize_blank(text: str) -> str:
    """Fill-blank comparison form: NFKC, lower case, no surrounding punctuation or markup, one space,
    numbers without trailing zeros ("1.50" == "1.5")."""
    t = unicodedata.normalize("NFKC", text).strip().lower()
    t = t.strip("`*_\"'“”‘’.。,，;；:： ")
    t = re.sub(r"\s+", " ", t)
    return re.sub(r"\b(\d+)\.(\d*?)0+\b", lambda m: m.group(1) + ("." + m.group(2) if m.group(2) else ""), t)


def score_fill_blank(predicted: str, answer_text: str) -> float | None:
    """1.0 on a normalized match with any accepted answer ("a | b"); None when it does not match, so the
    judge decides (MD-EvalBench's fallback)."""
    accepted = [normalize_blank(a) for a in re.split(r"\s*\|\s*", answer_text) if a.strip()]
    return 1.0 if normalize_blank(predicted) in accepted else None


def retrieval_metrics(ranked: list[list[str]], golds: list[list[str]]) -> dict[str, float]:
    """Recall@1/5/10 (any gold document in the top k) and MRR over the top 10."""
    out = {"R@1": 0.0, "R@5": 0.0, "R@10": 0.0, "MRR": 0.0}
    for docs, gold in zip(ranked, golds, strict=True):
        first = next((i for i, d in enumerate(docs[:10]) if d in gold), None)
        for k in (1, 5, 10):
            out[f"R@{k}"] += first is not None and first < k
        out["MRR"] += 1.0 / (first + 1) if first is not None else 0.0
    n = max(len(golds), 1)
    return {k: round(v / n, 4) for k, v in out.items()}


def latency(ms: list[float]) -> dict[str, float]:
    """Median and 95th percentile (nearest rank below) of per-query milliseconds; {} for none."""
    if not ms:
        return {}
    ordered = sorted(ms)
    return {"p50_ms": statistics.median(ordered), "p95_ms": ordered[int(0.95 * (len(ordered) - 1))]}
