"""``mdbot finetune …``: the learning loop's commands (docs/architecture.md §4). Heavy imports stay inside commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from .output import fail as _fail

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
    corpus: Annotated[
        Optional[list[Path]],  # noqa: UP045
        typer.Option(
            "--corpus", help="A folder of example inputs (manifest.jsonl or a lab's own; repeatable)."
        ),
    ] = None,
    exclude: Annotated[
        Optional[list[Path]],  # noqa: UP045
        typer.Option("--exclude", help="A benchmark file whose tasks and scripts never train (repeatable)."),
    ] = None,
    no_knowledge: Annotated[
        bool, typer.Option("--no-knowledge", help="Leave the knowledge base out of the CPT set.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as one JSON document.")] = False,
) -> None:
    """Turn the journal and the knowledge base into cpt / sft / grpo / recycled JSON-lines datasets."""
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from mdbot.finetune.export import ExportError, ExportOptions, parse_date
    from mdbot.finetune.export import export as run_export

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
            corpora=list(corpus or []),
            exclude=list(exclude or []),
        )
        if journal:
            opts.journal_url, opts.journal_required = journal, True
        else:
            from mdbot.graph.settings import GraphSettings

            opts.journal_url = GraphSettings().journal_url
        if not no_knowledge:
            from mdbot.retrieval.settings import RetrievalSettings

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
    for c in manifest.get("corpora", []):
        console.print(
            f"corpus {c['root']}: {c['used']} of {c['scripts']} scripts ({c['duplicates']} duplicates, "
            f"{c['excluded_evalbench']} MD-EvalBench left out) in {c['groups']} source directories; "
            f"{c['train_examples']} train / {c['test_examples']} held out; {c['eval_tasks']} eval tasks → {c['eval_file']}",
            highlight=False,
        )
    for imp in manifest["imports"]:
        bad = ", ".join(str(b["line"]) for b in imp["bad_lines"])
        console.print(
            f"import {imp['file']}: {imp['pairs']} pairs" + (f", bad lines: {bad}" if bad else ""),
            highlight=False,
        )


# ------------------------------------------------------------------------------------------------ reward
@app.command()
def reward(
    script: Annotated[Path, typer.Argument(help="A LAMMPS input, or a model reply containing one.")],
    task: Annotated[str, typer.Option("--task", help="The request (used by the judge, if one is set).")] = "",
    file: Annotated[
        Optional[list[Path]],  # noqa: UP045 - typer needs Optional here
        typer.Option("--file", "-f", help="Input file to stage into the job (data, potential, …)."),
    ] = None,
    judge: Annotated[
        bool, typer.Option("--judge", help="Add the judge model's task score (MDBOT_LLM_JUDGE_*).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
) -> None:
    """Score one script with the GRPO reward (real sandbox runs; see README → The learning loop)."""
    if not script.exists() or script.is_dir():  # a pipe (<(…)) is fine
        _fail(f"script not found: {script}", 2, as_json)
    for f in file or []:
        if not f.is_file():
            _fail(f"file not found: {f}", 2, as_json)
    from mdbot.finetune.rewards import ScriptReward

    judge_model = None
    if judge:
        from mdbot.graph.models import chat_model

        judge_model = chat_model("judge")
        if judge_model is None:
            _fail(
                "--judge needs a judge endpoint (MDBOT_LLM_JUDGE_BASE_URL or MDBOT_LLM_INSTRUCT_BASE_URL)",
                2,
                as_json,
            )
    text = script.read_text(errors="replace")
    try:
        result = ScriptReward(judge=judge_model).score(
            text, task, {f.name: str(f.resolve()) for f in file or []}
        )
    except Exception as exc:  # noqa: BLE001 - one clear line, exit 1
        _fail(f"the reward failed: {type(exc).__name__}: {exc}", 1, as_json)
    if result.status == "internal_error":  # the sandbox itself failed (e.g. LAMMPS missing), not the script
        _fail(f"the reward failed: {(result.error or {}).get('message')}", 1, as_json)
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    parts = "  ".join(f"{k} {v:g}" for k, v in result.components.items() if v is not None)
    print(f"reward {result.reward:.3f}  ({result.status})  {parts}")
    if result.error:
        print(
            f"error: {result.error.get('message')}"
            + (f" — {result.error['command']}" if result.error.get("command") else "")
        )


# ------------------------------------------------------------------------------------------------ training
def _train(
    stage: str, data: Path, out: Path, profile: str, config: Path | None, overrides: dict, as_json: bool
) -> None:
    from mdbot.finetune.config import load_config

    if not data.is_dir():
        _fail(f"no export at {data}: run `mdbot finetune export --out {data}` first", 2, as_json)
    if config is not None and not config.is_file():
        _fail(f"config file not found: {config}", 2, as_json)
    try:
        cfg = load_config(profile, config, data=data, out=out, **overrides)
    except (ValueError, TypeError) as exc:
        _fail(str(exc), 2, as_json)
    from mdbot.finetune.models import ModelUnavailable
    from mdbot.finetune.train import NoData, train
    from mdbot.graph.settings import GraphSettings

    try:
        report = train(stage, cfg, GraphSettings().data_dir)  # type: ignore[arg-type]
    except (NoData, ModelUnavailable) as exc:
        _fail(str(exc), 2, as_json)
    except Exception as exc:  # noqa: BLE001 - out of memory, a bad model id, …: one clear line, exit 1
        _fail(f"{stage} failed: {type(exc).__name__}: {exc}", 1, as_json)
    if not report.main:  # another rank of a multi-GPU run: rank 0 reports
        return
    if as_json:
        print(json.dumps(report.to_dict()))
        return
    losses = ", ".join(f"{x:.4g}" for x in report.losses)
    print(f"{stage}: {report.steps} step(s) on {report.examples} example(s); loss {losses}")
    if report.rewards:
        r = report.rewards
        print(
            f"reward mean {r['mean']} ± {r['std']} over {r['completions']} completions; scripts {r['script_rate']:.0%}, "
            f"check pass {r['check_pass_rate']:.0%}, run pass {r['run_pass_rate']:.0%}; "
            f"{r['recycled']} recycled into {out / 'recycled.train.jsonl'}, {r['hard_prompts']} hard prompt(s)"
        )
    print(f"adapter: {report.adapter}" + (f"\nmerged model: {report.merged}" if report.merged else ""))
    print(f"serve it with:\n  {report.serve}")


def _stage_command(stage: str, summary: str):
    def command(
        data: Annotated[
            Path, typer.Option("--data", help="Directory written by `mdbot finetune export`.")
        ] = Path("finetune-data"),
        out: Annotated[Path, typer.Option("--out", help="Where the adapter, metrics and logs go.")] = Path(
            f"finetune-{stage}"
        ),
        profile: Annotated[str, typer.Option("--profile", help="cpu-smoke (default) or gpu.")] = "cpu-smoke",
        config: Annotated[
            Optional[Path],  # noqa: UP045
            typer.Option("--config", help="YAML file with any TrainConfig field (lora:, reward: nested)."),
        ] = None,
        base_model: Annotated[
            Optional[str],  # noqa: UP045
            typer.Option("--base-model", help="HF id or path (default by profile)."),
        ] = None,
        max_steps: Annotated[Optional[int], typer.Option("--max-steps", help="Optimizer steps.")] = None,  # noqa: UP045
        name: Annotated[
            Optional[str],  # noqa: UP045
            typer.Option("--name", help="Adapter name for vLLM (default md-code)."),
        ] = None,
        merge: Annotated[bool, typer.Option("--merge", help="Also save the merged model.")] = False,
        save_steps: Annotated[
            Optional[int],  # noqa: UP045
            typer.Option("--save-steps", help="Checkpoint every N steps; a rerun with this --out resumes."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
    ) -> None:
        overrides = {
            "base_model": base_model,
            "max_steps": max_steps,
            "adapter_name": name,
            "merge": merge or None,
            "save_steps": save_steps,
        }
        _train(stage, data, out, profile, config, overrides, as_json)

    command.__doc__ = summary
    return command


app.command("cpt")(_stage_command("cpt", "Continued pre-training (causal LM, LoRA) on cpt.train.jsonl."))
app.command("sft")(
    _stage_command("sft", "Supervised fine-tuning (TRL SFTTrainer, LoRA) on sft + recycled pairs.")
)
app.command("grpo")(
    _stage_command(
        "grpo", "MD-GRPO (TRL GRPOTrainer, LoRA) with LAMMPS execution in the sandbox as the reward."
    )
)
