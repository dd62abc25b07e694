"""Scoring exactly as MD-EvalBench does, so our numbers sit in the same table as MDAgent2's (issue 7).

Pure functions, no models: reading the benchmark's JSON lines (``"BASE64:"`` values decoded), reading a
model's choice letters out of free text, exact set match for choice questions, normalized match for
fill-in-the-blank, and the retrieval metrics. The judge-based parts (open QA, the fill-blank fallback, code
fidelity) call a model and live in ``evals.judge``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from finetune.formats import decode_mdagent

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


def load_qa(path: Path) -> tuple[list[QAItem], list[dict]]:
    """(items, bad lines as {"line", "reason"}) from an MD-EvalBench Q&A file."""
    items, bad, seen = [], [], set()
    for number, line in enumerate(Path(path).read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
            rec = {k: decode_mdagent(v) for k, v in raw.items()}
            kind = rec.get("type")
            if kind not in QA_TYPES:
                raise ValueError(f"type must be one of {', '.join(QA_TYPES)}, not {kind!r}")
            if not str(rec.get("question") or "").strip():
                raise ValueError("no question")
            answer = rec.get("answer") or []
            if isinstance(answer, str):
                answer = [answer]
            letters = [str(a).strip().upper() for a in answer]
            options = {str(k).strip().upper(): str(v) for k, v in (rec.get("options") or {}).items()}
            if kind in ("single_choice", "multiple_choice"):
                if not options or not letters or any(a not in options for a in letters):
                    raise ValueError("a choice question needs options and answer letters among them")
            qid = str(rec.get("id", f"{Path(path).stem}-{number}"))
            if qid in seen:
                raise ValueError(f"duplicate id {qid!r}")
            seen.add(qid)
            items.append(
                QAItem(
                    id=qid,
                    type=kind,
                    question=str(rec["question"]),
                    options=options,
                    answer=letters,
                    answer_text=str(rec.get("answer_text") or ""),
                    difficulty=str(rec.get("difficulty") or ""),
                    tags=[str(t) for t in rec.get("tags") or []],
                    source=Path(path).stem,
                )
            )
        except (ValueError, TypeError, KeyError) as exc:
            bad.append({"line": number, "reason": str(exc)})
    return items, bad


_MARKER = re.compile(r"(?:answers?|选项|答案)(?:\s+(?:is|are))?[\s*:：]*", re.I)
# A list of capital letters at the start of what follows the marker: "B", "(B)", "A, C", "B and D", "ABD", "B、D"
_LEAD = re.compile(r"(?:\(?[A-Z]\)?(?:\s*(?:,|、|和|/|&|\band\b|\s)\s*)?)+")
_LONE = re.compile(r"(?<![A-Za-z])\(?([A-Z])\)?(?![A-Za-z])")


def parse_choice(reply: str, options: dict[str, str]) -> list[str]:
    """The letters a model chose: those listed after its last "Answer:" (or "the answer is", "答案："),
    else every option letter standing alone in the reply."""
    valid = set(options)
    for m in reversed(list(_MARKER.finditer(reply))):
        rest = reply[m.end() : m.end() + 80]
        lead = _LEAD.match(rest)
        if not lead or (lead.end() < len(rest) and lead.group()[-1].isupper() and rest[lead.end()].islower()):
            continue  # "Answer: Because …" lists no letters
        letters = {c for c in re.findall(r"[A-Z]", lead.group()) if c in valid}
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
