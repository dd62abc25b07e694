"""``mdbot eval …``: benchmarks with reports (DESIGN.md §3). Work in progress: ``retrieval`` only so far."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Benchmarks: Q&A, code generation, retrieval — with reports.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)  # fmt: skip


def _fail(message: str, code: int, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"status": "usage_error" if code == 2 else "internal_error", "message": message}))
    print(f"mdbot: {message}", file=sys.stderr)
    raise typer.Exit(code)


@app.command()
def retrieval(
    file: Annotated[Path, typer.Argument(help='JSON lines {"id", "query", "gold": [doc ids], "type"}.')],
    out: Annotated[Path, typer.Option("--out", help="Report directory (rerun to resume).")] = Path(
        "eval-retrieval"
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """Recall@1/5/10 and MRR of the knowledge base, overall and by query type; report.md/json + chart.png."""
    from rich.progress import Progress

    from evals.retrieval import evaluate
    from evals.scoring import BenchFileError
    from retrieval.search import EmptyKnowledgeBase, Searcher
    from retrieval.settings import RetrievalSettings

    settings = RetrievalSettings()
    try:
        with Progress(transient=True) as progress:
            task = progress.add_task("queries", total=None)
            doc = evaluate(file, out, Searcher(settings), settings.embedding_model,
                           on_item=lambda i, n: progress.update(task, completed=i, total=n))  # fmt: skip
    except (BenchFileError, EmptyKnowledgeBase) as exc:
        _fail(str(exc), 2, as_json)
    if as_json:
        print(json.dumps(doc))
        return
    m = doc["metrics"]
    print(
        f"{doc['n']} queries: R@1 {m['R@1']:.3f}  R@5 {m['R@5']:.3f}  R@10 {m['R@10']:.3f}  MRR {m['MRR']:.3f}"
    )
    print(f"report: {Path(doc['out']) / 'report.md'}")
