"""Fit the reranking weights of the hybrid search (``RERANK_WEIGHTS`` in ``retrieval/search.py``) on the
tuning sets, and check them by fitting on all sets but one and scoring the one left out.

    .venv/bin/python bench/rerank_fit.py [--data-dir DIR] [--queries FILE …] [--l2 1.0]

The knowledge base is ``bench/retrieval.py``'s (the 2024 manual alone; build it with that script first).
For each query the fused ranking's top pages and their features come from ``Searcher.candidates``; the
model is linear in the standardised features, fitted by a listwise softmax (the gold pages share the
target mass) with Adam and an L2 penalty. It prints the out-of-set scores beside the fused ranking's and
the weights fitted on every set, in the features' own units, to paste into ``RERANK_WEIGHTS``. The
held-out sets are refused: they are scored, never fitted on.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
TUNING = ["retrieval_dev2_2024.jsonl", "retrieval_dev_2024.jsonl", "retrieval_queries.jsonl"]
STEPS, RATE = 1500, 0.05


def _bench_retrieval():
    spec = importlib.util.spec_from_file_location("bench_retrieval", ROOT / "bench" / "retrieval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fit(lists, l2: float):
    """Weights over standardised features; returns (weights, mean, scale)."""
    import numpy as np

    X = np.vstack([x for x, _ in lists])
    mean, scale = X.mean(0), X.std(0) + 1e-9
    w = np.zeros(X.shape[1])
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t in range(1, STEPS + 1):
        grad = l2 * 1e-2 * w
        for x, gold in lists:
            z = (x - mean) / scale
            s = z @ w
            p = np.exp(s - s.max())
            grad += z.T @ (p / p.sum() - gold / gold.sum()) / len(lists)
        m, v = 0.9 * m + 0.1 * grad, 0.999 * v + 0.001 * grad * grad
        w -= RATE * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return w, mean, scale


def scores(ranks: list[int]) -> tuple[float, float, float]:
    """R@1, R@5 and MRR (first gold page in the top 10) from each query's 0-based gold rank."""
    n = len(ranks) or 1
    return (
        sum(r == 0 for r in ranks) / n,
        sum(r < 5 for r in ranks) / n,
        sum(1 / (r + 1) for r in ranks if r < 10) / n,
    )


def gold_rank(order, gold) -> int:
    hits = [i for i, j in enumerate(order) if gold[j]]
    return hits[0] if hits else 10**6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=Path, nargs="+", default=[ROOT / "bench" / n for n in TUNING])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora" / "lammps-manual-2024")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".mdbot" / "bench-retrieval-2024")
    parser.add_argument("--l2", type=float, default=1.0)
    args = parser.parse_args()
    if any("heldout" in p.name for p in args.queries):
        parser.error("a held-out set is scored, never fitted on")
    import numpy as np

    from mdbot.retrieval.search import RERANK_FEATURES, RERANK_N, Searcher
    from mdbot.retrieval.settings import RetrievalSettings

    searcher = Searcher(RetrievalSettings(_env_file=None, data_dir=args.data_dir))
    searcher.warm_up()
    sets: dict[str, list] = {}
    for path in args.queries:
        rows = []
        for q in _bench_retrieval().load_queries(path, args.corpus):
            docs, x = searcher.candidates(q["query"], RERANK_N)
            if not docs:
                sys.exit("the knowledge base is not complete (or has no numpy BM25 index): rebuild it")
            rows.append((x, np.array([d in q["gold"] for d in docs], dtype=float)))
        sets[path.name] = rows
    print(f"{'left out':28s} {'fused R@1 / R@5 / MRR':>22s}   {'reranked':>18s}")
    for name, rows in sets.items():
        train = [r for other, rs in sets.items() if other != name for r in rs if r[1].any()]
        w, mean, scale = fit(train, args.l2)
        base = [gold_rank(range(len(g)), g) for _, g in rows]
        new = [gold_rank(np.argsort(-(((x - mean) / scale) @ w), kind="stable"), g) for x, g in rows]
        b, n = scores(base), scores(new)
        print(f"{name:28s} {b[0]:.3f} / {b[1]:.3f} / {b[2]:.3f}    {n[0]:.3f} / {n[1]:.3f} / {n[2]:.3f}")
    w, mean, scale = fit([r for rs in sets.values() for r in rs if r[1].any()], args.l2)
    raw = w / scale  # the same order in the features' own units (the offset changes no ranking)
    print("\nRERANK_WEIGHTS, fitted on every set given:")
    print("  " + ", ".join(f"{f}={x:+.4f}" for f, x in zip(RERANK_FEATURES, raw, strict=True)))
    print(f"  ({', '.join(f'{x:.4f}' for x in raw)})")


if __name__ == "__main__":
    main()
