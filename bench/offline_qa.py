"""Offline Q&A: the share of lab-style questions whose reply without a model shows the answer.

    .venv/bin/python bench/offline_qa.py [--questions bench/offline_qa.jsonl] [--reingest] [--show ID] [--json]

The questions (``bench/offline_qa.jsonl``, frozen before the offline replies were tuned) each list what an
answer must contain, written from the 2024 LAMMPS manual (``../shared/corpora/lammps-manual-2024``): a list
of groups, each group a list of alternatives; a reply answers the question when every group has one
alternative in it (case-insensitive, markup and spacing ignored). The knowledge base is the whole 2024
manual, built once in its own data directory (``.mdbot/bench-offline-qa``) and reused. Each question goes
through the real brain (``Brain.ask``: routing, retrieval, the offline reply) with no model configured, as a
newcomer meets it. ``--baseline`` measures the reply as it was before the offline answers were reworked
(the five best passages, each cut at 300 characters: ``passages.offline_answer``), on the same brain.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
MANUAL = ROOT.parent / "shared" / "corpora" / "lammps-manual-2024"


GREEK = {"τ": "tau", "ϵ": "epsilon", "ε": "epsilon", "σ": "sigma", "ρ": "rho", "μ": "mu", "η": "eta",
         "λ": "lambda", "ω": "omega", "θ": "theta", "φ": "phi", "α": "alpha", "β": "beta", "γ": "gamma"}


def normalize(text: str) -> str:
    """Lower case, markup (``*`` ``_`` backticks, backslashes) and spacing ignored; a Greek letter as the
    manual renders its LaTeX (``\\tau`` → τ) counts as its name (the required content says "tau")."""
    text = "".join(GREEK.get(ch, ch) for ch in text)
    return " ".join(re.sub(r"[*_`\\]", "", text).split()).lower()


def missing(answer: str, must: list[list[str]]) -> list[list[str]]:
    """The groups of required content of which the answer has no alternative."""
    text = normalize(answer)
    return [group for group in must if not any(normalize(alt) in text for alt in group)]


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def brain_for(data_dir: Path, reingest: bool):
    from mdbot.graph.service import Brain
    from mdbot.graph.settings import GraphSettings
    from mdbot.retrieval.ingest import ingest
    from mdbot.retrieval.search import Searcher
    from mdbot.retrieval.settings import RetrievalSettings
    from mdbot.sandbox.settings import SandboxSettings

    settings = RetrievalSettings(_env_file=None, data_dir=data_dir)
    if reingest or not (data_dir / "knowledge").exists():
        print(f"ingesting {MANUAL} …", file=sys.stderr)
        t0 = time.perf_counter()
        report = ingest([MANUAL], "manual", settings, include_installed=False)
        print(f"ingest: {report.chunks} passages in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    searcher = Searcher(settings)
    searcher.warm_up()
    return Brain(
        GraphSettings(_env_file=None, data_dir=data_dir),
        sandbox=SandboxSettings(_env_file=None, data_dir=data_dir, pictures=False),
        models={"instruct": None, "code": None, "judge": None},
        searcher=searcher,
        journal=False,
    )


def use_baseline() -> None:
    """The reply before the rework: the top five passages cut at 300 characters (kept for this comparison)."""
    from mdbot.graph import nodes
    from mdbot.graph.passages import offline_answer
    from mdbot.graph.verify import citations

    def legacy(state, ctx, passages, why):
        text, cites = citations(offline_answer(passages, why, state.get("feedback", "")), passages[:5])
        return {"answer": text, "citations": cites, "outcome": "offline"}

    nodes._offline = legacy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=ROOT / "bench" / "offline_qa.jsonl")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".mdbot" / "bench-offline-qa")
    parser.add_argument("--reingest", action="store_true", help="rebuild the knowledge base")
    parser.add_argument("--show", action="append", default=[], help="print the reply to this question id")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--baseline", action="store_true", help="the reply as it was before the rework")
    args = parser.parse_args()
    if args.baseline:
        use_baseline()
    questions = load(args.questions)
    brain = brain_for(args.data_dir, args.reingest)
    rows = []
    try:
        for q in questions:
            turn = brain.ask(q["question"], source="bench")
            gaps = missing(turn.answer, q["must"])
            rows.append({"id": q["id"], "answered": not gaps, "missing": gaps, "intent": turn.intent})
            if q["id"] in args.show:
                print(f"--- {q['id']}: {q['question']}\n{turn.answer}\n", file=sys.stderr)
    finally:
        brain.close()
    answered = sum(r["answered"] for r in rows)
    doc = {"n": len(rows), "answered": answered, "share": round(answered / len(rows), 3), "rows": rows}
    if args.json:
        print(json.dumps(doc))
        return
    for r in rows:
        if not r["answered"]:
            print(f"  miss {r['id']}: lacks {' / '.join('|'.join(g) for g in r['missing'])}")
    print(f"answered offline: {answered}/{len(rows)} = {doc['share']:.0%}")


if __name__ == "__main__":
    main()
