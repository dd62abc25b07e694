"""``mdbot eval qa|code|retrieval``: benchmarks with reports (docs/architecture.md §4).

Each command writes ``report.md``, ``report.json``, ``chart.png`` and ``results.jsonl`` into ``--out``; a
rerun with the same ``--out`` resumes where the last one stopped. ``--model`` names a role (``instruct``,
``code``, ``judge``: its endpoint and model from the settings) or a model name served at the default role's
endpoint (``--model md-code-lora-r2`` compares adapters that one vLLM serves).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from .output import fail

app = typer.Typer(help="Benchmarks: Q&A, code generation, retrieval — with reports.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)  # fmt: skip
log = logging.getLogger("mdbot.eval")
ROLES = ("instruct", "code", "judge")

Out = Annotated[Path | None, typer.Option("--out", help="Report directory (rerun with it to resume).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
Concurrency = Annotated[int, typer.Option("--concurrency", min=1, max=64, help="Items worked on at once.")]
Judge = Annotated[
    bool, typer.Option("--judge/--no-judge", help="Grade with the judge model (MDBOT_LLM_JUDGE_*).")
]


def _model(spec: str, default_role: str, as_json: bool):
    """(model, its id) for ``--model``: a role, or a model name at ``default_role``'s endpoint."""
    from mdbot.graph.models import chat_model, model_id

    role, name = (spec, None) if spec in ROLES else (default_role, spec)
    model = chat_model(role, model=name)  # type: ignore[arg-type]
    if model is None:
        fail(f"no endpoint for the {role} model: set MDBOT_LLM_{role.upper()}_BASE_URL "
             "(or MDBOT_LLM_INSTRUCT_BASE_URL, which every role borrows)", 2, as_json)  # fmt: skip
    return model, model_id(model)


def _judge(enabled: bool):
    from mdbot.graph.models import chat_model, model_id

    judge = chat_model("judge") if enabled else None
    if enabled and judge is None:
        print("mdbot: no judge endpoint is set; open questions stay unscored and no judge_score is given",
              file=sys.stderr)  # fmt: skip
    return judge, model_id(judge)


def _searcher(as_json: bool):
    """The knowledge base, checked now: an empty one is a usage error, not 167 failed items."""
    from mdbot.retrieval.search import EmptyKnowledgeBase, Searcher
    from mdbot.retrieval.settings import RetrievalSettings

    settings = RetrievalSettings()
    searcher = Searcher(settings)
    try:
        searcher.warm_up()  # also keeps the model's loading out of the first query's latency
    except EmptyKnowledgeBase as exc:
        fail(f"{exc} (or run without retrieval)", 2, as_json)
    return (
        searcher,
        settings.embedding_model,
        {
            "knowledge_base": settings.chroma_url or str(settings.data_dir.resolve() / "knowledge"),
            "collection": settings.collection,
        },
    )


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr (stdout stays clean for --json)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(label, total=None)
        yield lambda i, n: progress.update(task, completed=i, total=n)


def _evaluate(label: str, as_json: bool, run: Callable[[Callable[[int, int], None]], dict]) -> dict:
    """``run(on_item)`` under a progress bar, with the failure contract: a bad file or a report directory
    of another run is exit 2, our own failure exit 1, and so is a run in which every item failed (a wrong
    model name, an endpoint that is down) — the report says which."""
    from mdbot.evals.scoring import BenchFileError

    try:
        with _progress(label) as on_item:
            doc = run(on_item)
    except BenchFileError as exc:
        fail(str(exc), 2, as_json)
    except Exception as exc:  # noqa: BLE001 - reported as an internal failure with exit 1
        log.exception("evaluation failed")
        fail(f"evaluation failed: {type(exc).__name__}: {exc}", 1, as_json)
    if doc["errors"] and not doc["n"]:
        first = doc["errors"][0]["error"]
        fail(
            f"every item failed ({len(doc['errors'])}), e.g. {first[:300]}; report: {doc['out']}", 1, as_json
        )
    return doc


def _finish(doc: dict, as_json: bool, line: str) -> None:
    if as_json:
        print(json.dumps(doc))
        return
    print(line)
    if doc.get("errors"):
        print(
            f"{len(doc['errors'])} item(s) failed; rerun with --out {doc['out']} to retry them",
            file=sys.stderr,
        )
    print(f"report: {Path(doc['out']) / 'report.md'}")


@app.command()
def qa(
    files: Annotated[
        list[Path], typer.Argument(help="MD-EvalBench JSON lines (e.g. Knowledge.jsonl Syntax.jsonl).")
    ],
    model: Annotated[
        str, typer.Option("--model", help="A role (instruct|code|judge) or a served model name.")
    ] = "instruct",
    retrieval: Annotated[
        str,
        typer.Option(
            "--retrieval", help="both | on | off: with the knowledge base's passages, without, or both."
        ),
    ] = "both",
    judge: Judge = True,
    concurrency: Concurrency = 4,
    out: Out = None,
    as_json: AsJson = False,
) -> None:
    """Accuracy on choice, fill-blank and open questions, per type, difficulty and file; report + chart."""
    from mdbot.evals.qa import evaluate
    from mdbot.evals.report import number

    conditions = {"both": ("no_retrieval", "retrieval"), "on": ("retrieval",), "off": ("no_retrieval",)}.get(
        retrieval
    )
    if conditions is None:
        fail(f"--retrieval must be both, on or off, not {retrieval!r}", 2, as_json)
    chat, mid = _model(model, "instruct", as_json)
    judge_model, judge_id = _judge(judge)
    searcher, embedder, _kb = _searcher(as_json) if "retrieval" in conditions else (None, None, None)
    ids = {"model": mid, "judge": judge_id, "embedding": embedder}
    doc = _evaluate("questions", as_json, lambda on_item: evaluate(
        files, out or Path("eval-qa"), chat, judge=judge_model, searcher=searcher, conditions=conditions,
        concurrency=concurrency, on_item=on_item, model_ids=ids))  # fmt: skip
    m = doc["metrics"]
    _finish(doc, as_json, f"{doc['n']} questions: accuracy {number(m['accuracy'])}"
            + "".join(f"  {c.replace('_', ' ')} {number(m.get('accuracy_' + c))}" for c in conditions))  # fmt: skip


@app.command()
def code(
    file: Annotated[
        Path,
        typer.Argument(help='Tasks: JSON lines or array of {"task", "standrd_code"|"reference", "files"?}.'),
    ],
    model: Annotated[
        str, typer.Option("--model", help="A role (instruct|code|judge) or a served model name.")
    ] = "code",
    attempts: Annotated[int, typer.Option("--attempts", "-k", min=1, max=10, help="k of ExecSucc@k.")] = 3,
    mode: Annotated[
        str,
        typer.Option("--mode", help="both | direct | loop: the model alone, the full graph loop, or both."),
    ] = "both",
    files_dir: Annotated[
        Path | None, typer.Option("--files", help="Where the tasks' input files are (default: next to FILE).")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Wall-clock limit of each LAMMPS run, seconds.")
    ] = 300.0,
    retrieval: Annotated[
        bool, typer.Option("--retrieval/--no-retrieval", help="Give the loop the knowledge base.")
    ] = True,
    judge: Judge = True,
    concurrency: Concurrency = 1,
    out: Out = None,
    as_json: AsJson = False,
) -> None:
    """ExecSucc@1/@k, health pass rate, judge score vs the reference, calls and tokens per task; report + chart."""
    from mdbot.evals.code import Harness, evaluate
    from mdbot.evals.report import number
    from mdbot.sandbox.install import LammpsNotFound, find_lammps
    from mdbot.sandbox.settings import SandboxSettings

    modes = {"both": ("direct", "loop"), "direct": ("direct",), "loop": ("loop",)}.get(mode)
    if modes is None:
        fail(f"--mode must be both, direct or loop, not {mode!r}", 2, as_json)
    if files_dir is not None and not files_dir.is_dir():
        fail(f"--files: not a directory: {files_dir}", 2, as_json)
    try:
        find_lammps()  # before any model call: without LAMMPS nothing can be scored
    except LammpsNotFound as exc:
        fail(f"LAMMPS is not installed: {exc}", 1, as_json)
    chat, mid = _model(model, "code", as_json)
    judge_model, judge_id = _judge(judge)
    searcher, embedder, _kb = _searcher(as_json) if retrieval and "loop" in modes else (None, None, None)
    out = out or Path("eval-code")
    harness = Harness(chat, judge=judge_model, searcher=searcher, sandbox=SandboxSettings(), attempts=attempts,
                      timeout_s=timeout, state_dir=out / "state")  # fmt: skip
    ids = {"model": mid, "judge": judge_id, "embedding": embedder}
    doc = _evaluate("tasks", as_json, lambda on_item: evaluate(
        file, out, harness, modes=modes, files_dir=files_dir, concurrency=concurrency, on_item=on_item,
        model_ids=ids))  # fmt: skip
    by = doc["by"]["mode"]
    line = "; ".join(f"{m}: ExecSucc@1 {number(by[m].get('exec_succ@1'))}  ExecSucc@{attempts} {number(by[m].get('exec_succ@k'))}"
                     f"  health {number(by[m].get('health_pass'))}  fidelity {number(by[m].get('fidelity'))}"
                     f"  judge {number(by[m].get('judge_score'))}" for m in modes)  # fmt: skip
    skipped = f" ({len(doc['skipped'])} skipped: files missing)" if doc["skipped"] else ""
    _finish(doc, as_json, f"{doc['n']} tasks{skipped} — {line}")


@app.command()
def retrieval(
    file: Annotated[Path, typer.Argument(help='JSON lines {"id", "query", "gold": [doc ids], "type"}.')],
    out: Out = None,
    as_json: AsJson = False,
) -> None:
    """Recall@1/5/10 and MRR of the knowledge base, overall and by query type; report + chart."""
    from mdbot.evals.retrieval import evaluate

    searcher, embedder, kb = _searcher(as_json)
    doc = _evaluate("queries", as_json, lambda on_item: evaluate(
        file, out or Path("eval-retrieval"), searcher, embedder, on_item=on_item, settings=kb))  # fmt: skip
    m = doc["metrics"]
    _finish(
        doc,
        as_json,
        f"{doc['n']} queries: R@1 {m['R@1']:.3f}  R@5 {m['R@5']:.3f}  R@10 {m['R@10']:.3f}  MRR {m['MRR']:.3f}",
    )
