"""``mdbot finetune …``: the learning loop's commands (DESIGN.md §3). Heavy imports stay inside commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    help="The learning loop: journal → datasets → CPT / SFT / GRPO LoRA adapters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="Directory for the JSON-lines files and manifest.json.")],
    journal: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional here
        typer.Option("--journal", help="Journal URL (default: MDBOT_DATABASE_URL or the SQLite journal)."),
    ] = None,
    min_rating: Annotated[
        int, typer.Option("--min-rating", help="Net 👍 a Q&A answer needs when it was not accepted.")
    ] = 1,
    since: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--since", help="Only turns started on or after this date (YYYY-MM-DD or ISO)."),
    ] = None,
    until: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--until", help="Only turns started before this moment (a bare date includes the day)."),
    ] = None,
    channel: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--channel", help="Only turns from this channel (repeatable)."),
    ] = None,
    heldout: Annotated[float, typer.Option("--heldout", help="Fraction of tasks held out as test.")] = 0.1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the held-out split.")] = 0,
    keep_users: Annotated[
        bool, typer.Option("--keep-users", help="Keep user, channel and thread ids (in a meta field).")
    ] = False,
    imports: Annotated[
        Optional[list[Path]],  # noqa: UP045
        typer.Option("--import", help="Task/script pairs as JSON lines (MDAgent or plain; repeatable)."),
    ] = None,
    no_knowledge: Annotated[
        bool, typer.Option("--no-knowledge", help="Leave the knowledge base out of the CPT set.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as one JSON document.")] = False,
) -> None:
    """Turn the journal and the knowledge base into cpt / sft / grpo / recycled JSON-lines datasets."""
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from finetune.export import ExportError, ExportOptions, parse_date
    from finetune.export import export as run_export

    try:
        opts = ExportOptions(
            out=out,
            min_rating=min_rating,
            since=parse_date(since) if since else None,
            until=parse_date(until, end=True) if until else None,
            channels=list(channel or []),
            heldout=heldout,
            seed=seed,
            keep_users=keep_users,
            imports=list(imports or []),
        )
        if journal:
            opts.journal_url, opts.journal_required = journal, True
        else:
            from graph.settings import GraphSettings

            opts.journal_url = GraphSettings().journal_url
        if not no_knowledge:
            from retrieval.settings import RetrievalSettings

            opts.knowledge = RetrievalSettings()
        manifest = run_export(opts)
    except ExportError as exc:
        _fail(str(exc), 2, as_json)
    except Exception as exc:  # noqa: BLE001 - reported as an internal failure with exit 1
        logging.getLogger("mdbot.finetune").exception("export failed")
        _fail(f"export failed: {type(exc).__name__}: {exc}", 1, as_json)
    if as_json:
        print(json.dumps(manifest))
        return
    _print_counts(manifest)


def _fail(message: str, code: int, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"status": "usage_error" if code == 2 else "internal_error", "message": message}))
    print(f"mdbot: {message}", file=sys.stderr)
    raise typer.Exit(code)


def _print_counts(manifest: dict) -> None:
    """The counts per file as a table, and what was left out, so a bad filter is seen at once."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"export → {manifest['out']}")
    for column in ("dataset", "train", "test", "kinds"):
        table.add_column(column, justify="right" if column in ("train", "test") else "left")
    for name, split in manifest["counts"].items():
        kinds = ", ".join(f"{k} {v}" for k, v in manifest["kinds"].get(name, {}).items())
        table.add_row(name, str(split["train"]), str(split["test"]), kinds)
    console.print(table)
    turns = manifest["turns"]
    console.print(
        f"journal {manifest['journal']}: {turns['used']} of {turns['total']} turns used, "
        f"{turns['thumbs_down']} 👎 left out, Q&A {turns['qa_rated']} rated + {turns['qa_accepted']} accepted; "
        f"{manifest['knowledge_documents']} knowledge documents; "
        f"{manifest['grpo_files']['skipped_missing']} attached file(s) no longer exist",
        highlight=False,
    )
    for note in (manifest.get("journal_note"), manifest.get("knowledge_note")):
        if note:
            console.print(f"[dim]{note}[/]", highlight=False)
    for imp in manifest["imports"]:
        bad = ", ".join(str(b["line"]) for b in imp["bad_lines"])
        console.print(
            f"import {imp['file']}: {imp['pairs']} pairs" + (f", bad lines: {bad}" if bad else ""),
            highlight=False,
        )
