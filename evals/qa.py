"""``mdbot eval qa FILE…``: MD-EvalBench-format Q&A, scored as the benchmark scores it, with and without
retrieval.

Each question is put to the model once per condition. *no_retrieval* is the model alone, prompted with the
system prompt it is fine-tuned on (``finetune.formats.QA_SYSTEM``), which is how MDAgent2 reports its
models; *retrieval* adds the knowledge base's passages for the question, as the bot does. Choice questions
ask for a final ``Answer: <letters>`` line and are scored by exact set match; fill-blank answers are
compared normalized with ``answer_text`` and, when that fails, the judge decides; open questions get the
judge's rubric score (0–1). The headline ``accuracy`` is the mean of the per-file accuracies (MDAgent2
averages its Knowledge and Syntax files), with retrieval when that condition ran.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from . import judge as judging
from .report import Run, file_digest, md_table, number
from .scoring import BenchFileError, QAItem, load_qa, parse_choice, score_choice, score_fill_blank

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

CONDITIONS = ("no_retrieval", "retrieval")
PASSAGES = 4
PASSAGE_CHARS = 1200
INSTRUCTIONS = {
    "single_choice": 'This question has exactly one correct option. End your reply with the line "Answer: <letter>".',
    "multiple_choice": "This question may have several correct options; choose all of them. End your reply with "
    'the line "Answer: <letters, comma-separated>".',
    "fill_blank": 'Fill in the blank. End your reply with the line "Answer: <the missing text>".',
    "open_qa": "",
}
_FINAL = re.compile(r"(?:answer|答案)\s*[:：]\s*(.+)", re.I)


def question_text(item: QAItem) -> str:
    lines = [item.question.strip()]
    lines += [f"{letter}. {text}" for letter, text in sorted(item.options.items())]
    if INSTRUCTIONS[item.type]:
        lines += ["", INSTRUCTIONS[item.type]]
    return "\n".join(lines)


def prompt(item: QAItem, passages: list[dict] | None):
    from langchain_core.messages import HumanMessage, SystemMessage

    from mdbot.finetune.formats import QA_SYSTEM

    user = question_text(item)
    if passages is not None:
        from mdbot.graph.passages import numbered_passages  # numbered as the bot shows them to its models

        numbered = numbered_passages(passages, PASSAGE_CHARS)
        user = f"Passages from the LAMMPS manual and the lab's documents:\n{numbered}\n\n{user}"
    return [SystemMessage(QA_SYSTEM), HumanMessage(user)]


def final_answer(reply: str) -> str:
    """The text after the last "Answer:" (a fill-blank reply), else the reply's last non-empty line."""
    found = _FINAL.findall(reply)
    if found:
        return found[-1].strip()
    lines = [ln for ln in reply.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""


def score_item(item: QAItem, reply: str, judge: BaseChatModel | None) -> dict:
    """{"predicted", "score" (None: cannot be scored), "scored_by", "judge_reason"} for one reply."""
    if item.type in ("single_choice", "multiple_choice"):
        predicted = parse_choice(reply, item.options)
        return {"predicted": predicted, "score": score_choice(predicted, item.answer), "scored_by": "exact"}
    if item.type == "fill_blank":
        predicted = final_answer(reply)
        if score_fill_blank(predicted, item.answer_text) is not None:
            return {"predicted": predicted, "score": 1.0, "scored_by": "normalized"}
        verdict = judging.judge_blank(judge, item.question, item.answer_text, predicted) if judge else None
        if verdict is None:  # no judge: the strict match decides
            return {"predicted": predicted, "score": 0.0, "scored_by": "normalized", "unjudged": True}
        return {"predicted": predicted, "score": float(verdict.correct), "scored_by": "judge",
                "judge_reason": verdict.reason}  # fmt: skip
    verdict = judging.judge_open(judge, item.question, item.answer_text, reply) if judge else None
    if verdict is None:  # an open answer has no score without a judge; counted, not guessed
        return {"predicted": None, "score": None, "scored_by": None, "unjudged": True}
    return {"predicted": None, "score": verdict.score, "scored_by": "judge", "judge_reason": verdict.reason}


def load_files(paths: list[Path]) -> tuple[list[QAItem], list[dict]]:
    items, bad, stems = [], [], set()
    for path in paths:
        if Path(path).stem in stems:  # the stem names the file's group in the report and in the keys
            raise BenchFileError(f"two benchmark files are named {Path(path).stem!r}; rename one")
        stems.add(Path(path).stem)
        got, wrong = load_qa(path)
        items += got
        bad += [{"file": str(path), **b} for b in wrong]
    if not items:
        raise BenchFileError("no usable questions in " + ", ".join(map(str, paths)))
    return items, bad


def _mean(values: list[float | None]) -> float | None:
    """Mean of what has a value (an unjudged item has none), to four decimals."""
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 4) if values else None


def _accuracy(rows: list[dict]) -> float | None:
    return _mean([r["score"] for r in rows])


def evaluate(
    paths: list[Path],
    out: Path,
    model: BaseChatModel,
    *,
    judge: BaseChatModel | None = None,
    searcher=None,
    conditions: tuple[str, ...] = CONDITIONS,
    concurrency: int = 1,
    on_item: Callable[[int, int], None] | None = None,
    model_ids: dict | None = None,
) -> dict:
    """Run (or resume) the Q&A benchmark; returns the report document (docs/architecture.md §4 shape)."""
    from mdbot.graph.models import stream_text

    items, bad = load_files(paths)
    if "retrieval" in conditions and searcher is None:
        raise ValueError("the retrieval condition needs a searcher")
    fingerprint = {"model": (model_ids or {}).get("model"), "judge": (model_ids or {}).get("judge"),
                   "files": {Path(p).stem: file_digest(p) for p in paths}, "passages": PASSAGES}  # fmt: skip
    run = Run(out, "qa", fingerprint)
    if searcher is not None:
        from mdbot.graph.service import LockedSearcher

        searcher = LockedSearcher(searcher)  # items run in threads; the searcher serves one at a time

    def one(item: QAItem, condition: str) -> dict:
        t0 = time.perf_counter()
        passages = None
        if condition == "retrieval":
            query = " ".join([item.question, *item.options.values()])[:2000]
            passages = [h.to_dict() for h in searcher.search(query, PASSAGES)]
        reply, usage = stream_text(model, prompt(item, passages))
        row = {"id": item.id, "file": item.source, "type": item.type, "difficulty": item.difficulty or "unrated",
               "condition": condition, "reply": reply, "passages": [p["doc_id"] for p in passages or []],
               "tokens": {"input": (usage or {}).get("input_tokens"), "output": (usage or {}).get("output_tokens")},
               "s": round(time.perf_counter() - t0, 3)}  # fmt: skip
        return {**row, **score_item(item, reply, judge)}

    work = [(f"{c}/{i.source}/{i.id}", lambda i=i, c=c: one(i, c)) for c in conditions for i in items]
    done = run.map(work, concurrency, on_item)
    rows = [done[k] for k, _ in work if k in done]
    doc = summarize(rows, conditions)
    doc.update({"model": (model_ids or {}).get("model", ""), "models": model_ids or {}, "bad_lines": bad,
                "errors": run.errors, "files": [str(p) for p in paths],
                "settings": {"conditions": list(conditions), "passages": PASSAGES, "concurrency": concurrency}})  # fmt: skip
    return run.write(doc, markdown(doc), chart(doc))


def summarize(rows: list[dict], conditions: tuple[str, ...]) -> dict:
    """Accuracy per condition: overall (mean of files), micro, and by file, type and difficulty."""
    by_cond = {c: [r for r in rows if r["condition"] == c] for c in conditions}
    metrics: dict = {}
    by: dict = {"file": {}, "type": {}, "difficulty": {}}
    for c, rs in by_cond.items():
        groups: dict[str, dict[str, list[dict]]] = {k: defaultdict(list) for k in by}
        for r in rs:
            for k in by:
                groups[k][r[k]].append(r)
        for k, g in groups.items():
            for name, members in sorted(g.items()):
                entry = by[k].setdefault(name, {"n": len({(m["file"], m["id"]) for m in members})})
                entry[c] = _accuracy(members)
        metrics[f"accuracy_{c}"] = _mean([_accuracy(members) for members in groups["file"].values()])
        metrics[f"micro_accuracy_{c}"] = _accuracy(rs)
        metrics[f"unjudged_{c}"] = sum(1 for r in rs if r.get("unjudged"))
    primary = "retrieval" if "retrieval" in conditions else conditions[0]
    metrics["accuracy"] = metrics.get(f"accuracy_{primary}")
    if set(CONDITIONS) <= set(conditions) and None not in (
        metrics["accuracy_retrieval"],
        metrics["accuracy_no_retrieval"],
    ):
        metrics["retrieval_gain"] = round(metrics["accuracy_retrieval"] - metrics["accuracy_no_retrieval"], 4)
    n = len({(r["file"], r["id"]) for r in rows})
    return {"kind": "qa", "n": n, "metrics": metrics, "by": by, "primary": primary}


def markdown(doc: dict) -> str:
    conds = doc["settings"]["conditions"]
    m = doc["metrics"]
    lines = [f"# Q&A — {', '.join(Path(f).name for f in doc['files'])}", "",
             f"{doc['n']} questions, model `{doc['model']}`, judge `{doc['models'].get('judge') or 'none'}`.", "",
             "Headline accuracy (mean of the files' accuracies, as MDAgent2 reports it): "
             + ", ".join(f"**{c.replace('_', ' ')}** {number(m.get('accuracy_' + c))}" for c in conds)
             + (f"; retrieval adds {m['retrieval_gain']:+.3f}." if "retrieval_gain" in m else "."), ""]  # fmt: skip
    for k in ("file", "type", "difficulty"):
        lines += [f"## By {k}", "", md_table(doc["by"][k], ["n", *conds]), ""]
    unjudged = {c: m.get(f"unjudged_{c}", 0) for c in conds if m.get(f"unjudged_{c}")}
    if unjudged:
        lines.append(f"Unjudged (no judge verdict): {unjudged}. Open questions without a verdict are left out of "
                     "the accuracy; fill-blank answers without one count by the strict match.")  # fmt: skip
    return "\n".join(lines) + "\n"


def chart(doc: dict) -> dict[str, dict[str, float]]:
    """{condition: {"overall", each file, each type: accuracy}} for the bar chart."""
    out = {}
    for c in doc["settings"]["conditions"]:
        values = {"overall": doc["metrics"].get(f"accuracy_{c}")}
        for k in ("file", "type"):
            values |= {name: entry.get(c) for name, entry in doc["by"][k].items()}
        out[c.replace("_", " ")] = values
    return out
