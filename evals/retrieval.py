"""``mdbot eval retrieval FILE``: Recall@1/5/10 and MRR of the knowledge base on labeled queries.

Queries are JSON lines ``{"id", "query", "gold": [doc ids], "type"?}``; the search is exactly what the bot
does (``retrieval.search.Searcher``, one result per document). Reported overall and by query type, with
per-query latency.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from .report import Run, file_digest, md_table
from .scoring import BenchFileError, read_records, record_id, retrieval_metrics
from .scoring import latency as latency_of

METRICS = ["R@1", "R@5", "R@10", "MRR"]


def load_queries(path: Path) -> tuple[list[dict], list[dict]]:
    records, bad = read_records(path)
    queries, seen = [], set()
    for number, q in records:
        try:
            gold = q.get("gold")
            if isinstance(gold, str):
                gold = [gold]
            if not isinstance(q.get("query"), str) or not q["query"].strip():
                raise ValueError("no query text")
            if not isinstance(gold, list) or not gold or not all(isinstance(g, str) for g in gold):
                raise ValueError('"gold" must list the relevant document ids')
            qid = record_id(q, str(number))
            if qid in seen:
                raise ValueError(f"duplicate id {qid!r}")
            seen.add(qid)
            queries.append(
                {"id": qid, "query": q["query"], "gold": gold, "type": str(q.get("type") or "all")}
            )
        except Exception as exc:  # noqa: BLE001 - any malformed record is a bad line, never a crash
            bad.append({"line": number, "reason": str(exc)[:300] or type(exc).__name__})
    if not queries:
        raise BenchFileError(f"no usable queries in {path}")
    return queries, sorted(bad, key=lambda b: b["line"])


def evaluate(
    path: Path,
    out: Path,
    searcher,
    model: str,
    on_item: Callable[[int, int], None] | None = None,
    settings: dict | None = None,
) -> dict:
    """Run (or resume) the evaluation; returns the report document (docs/architecture.md §4 shape)."""
    queries, bad = load_queries(path)
    run = Run(out, "retrieval", {"embedding": model, "file": file_digest(path), **(settings or {})})

    def one(q: dict) -> dict:
        t0 = time.perf_counter()
        hits = searcher.search(q["query"], 10)
        return {"id": q["id"], "type": q["type"], "gold": q["gold"], "ranked": [h.doc_id for h in hits],
                "ms": round((time.perf_counter() - t0) * 1000, 2)}  # fmt: skip

    # one at a time: latency is part of what is measured, and the searcher serves one query at a time
    done = run.map(((q["id"], lambda q=q: one(q)) for q in queries), 1, on_item)
    rows = [done[q["id"]] for q in queries if q["id"] in done]
    overall = retrieval_metrics([r["ranked"] for r in rows], [r["gold"] for r in rows])
    by_type: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_type[r["type"]].append(r)
    by = {t: {**retrieval_metrics([r["ranked"] for r in rs], [r["gold"] for r in rs]), "n": len(rs)}
          for t, rs in sorted(by_type.items())}  # fmt: skip
    latency = latency_of([r["ms"] for r in rows])
    doc = {"kind": "retrieval", "n": len(rows), "metrics": overall, "by": {"type": by}, "model": model,
           "latency": latency, "bad_lines": bad, "errors": run.errors, "file": str(path),
           "settings": {"k": 10, **(settings or {})}}  # fmt: skip
    md = (
        f"# Retrieval — {Path(path).name}\n\n{len(rows)} queries, embedding model `{model}`"
        + f"; latency p50 {latency.get('p50_ms', 0):.1f} ms, p95 {latency.get('p95_ms', 0):.1f} ms.\n\n"
        + md_table({"all": {"n": len(rows), **overall}, **by}, ["n", *METRICS])
    )
    return run.write(doc, md, {"all": overall, **{t: {m: v[m] for m in METRICS} for t, v in by.items()}})
