"""``mdbot submit`` and ``mdbot jobs [cancel]``: the lab's Slurm cluster from the command line (docs/architecture.md §4, §10).

Heavy imports (SQLAlchemy, the sandbox, the journal) stay inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from .output import fail as _fail

jobs_app = typer.Typer(
    help="Jobs on the lab's cluster: list them (refreshed from Slurm), cancel one.",
    add_completion=False,
    pretty_exceptions_enable=False,
    invoke_without_command=True,
)
USAGE_KINDS = {"request", "partition", "policy", "access", "limit", "state"}


def _cluster(as_json: bool):
    """The configured cluster on the journal's database, or exit 2 when none is configured."""
    from mdbot.cluster.service import Cluster
    from mdbot.cluster.settings import ClusterSettings
    from mdbot.cluster.store import JobStore
    from mdbot.graph.journal import Journal
    from mdbot.graph.settings import GraphSettings
    from mdbot.sandbox.settings import SandboxSettings

    settings = ClusterSettings()
    if not settings.enabled:
        _fail("no cluster is configured: set MDBOT_CLUSTER_MODE=local or ssh (see .env.example)", 2, as_json)
    if settings.problems():
        _fail("; ".join(settings.problems()), 2, as_json)
    journal = Journal(GraphSettings().journal_url)  # opening it migrates the schema (cluster_jobs included)
    return Cluster(settings, JobStore(journal.engine), SandboxSettings())


def submit(
    script: Annotated[Path, typer.Argument(help="LAMMPS input script.")],
    file: Annotated[
        Optional[list[Path]],  # noqa: UP045 - typer needs Optional here
        typer.Option("--file", "-f", help="Data, potential or include file the script needs (repeatable)."),
    ] = None,
    nodes: Annotated[Optional[int], typer.Option("--nodes", help="Nodes (default: the lab's).")] = None,  # noqa: UP045
    ntasks: Annotated[Optional[int], typer.Option("--ntasks", help="MPI tasks (default: the lab's).")] = None,  # noqa: UP045
    time: Annotated[Optional[str], typer.Option("--time", help="Time limit HH:MM:SS.")] = None,  # noqa: UP045
    partition: Annotated[Optional[str], typer.Option("--partition", help="Slurm partition.")] = None,  # noqa: UP045
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Check the script, test it briefly in the sandbox, then submit it to the cluster's Slurm."""
    from mdbot.cluster.service import ClusterError

    if not script.is_file():
        _fail(f"script not found: {script}", 2, as_json)
    cluster = _cluster(as_json)
    try:
        plan = cluster.plan(script, file or [], nodes=nodes, ntasks=ntasks, time=time, partition=partition)
        prepared = cluster.test(plan)
        if prepared.problem:
            doc = {
                "job": None,
                "test_run": prepared.test_run.model_dump(),
                "error": {"kind": "test", "message": prepared.problem},
            }
            _print(doc, as_json, f"Not submitted: {prepared.problem}")
            return
        job = cluster.submit(prepared)
    except ClusterError as exc:
        _fail(str(exc), 2 if exc.kind in USAGE_KINDS else 1, as_json)
    finally:
        cluster.close()
    doc = {
        "job": {"id": job.id, "cluster_id": job.cluster_id, "state": job.state, "resources": job.resources,
                "workdir": job.workdir, "error": job.error, "notes": job.notes},
        "test_run": prepared.test_run.model_dump(),
    }  # fmt: skip
    if job.state == "REFUSED":
        _print(doc, as_json, f"Not submitted: {job.error}")
    else:
        _print(
            doc,
            as_json,
            f"Submitted job {job.cluster_id} ({job.id}) to {cluster.name}: {plan.summary()}\n{job.workdir}",
        )


@jobs_app.callback()
def jobs(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    limit: Annotated[int, typer.Option("--limit", help="Recent jobs to list besides the open ones.")] = 20,
    no_refresh: Annotated[
        bool, typer.Option("--no-refresh", help="Show the journal without asking Slurm.")
    ] = False,
) -> None:
    """Open and recent jobs with their state history (one squeue call refreshes them first)."""
    if ctx.invoked_subcommand is not None:
        return
    from mdbot.cluster.poller import Poller

    cluster = _cluster(as_json)
    try:
        warning = None
        if not no_refresh:
            poller = Poller(cluster, pictures=False)
            poller.tick()
            if poller.last_error:
                warning = f"{cluster.name} did not answer ({poller.last_error}); states are as last seen"
        shown = {j.id: j for j in cluster.store.open_jobs(cluster.name)}
        for j in cluster.store.recent(limit):
            shown.setdefault(j.id, j)
    finally:
        cluster.close()
    docs = [j.document() for j in sorted(shown.values(), key=lambda j: j.created_at, reverse=True)]
    if as_json:
        print(json.dumps({"cluster": cluster.name, "warning": warning, "jobs": docs}, indent=2))
        return
    if warning:
        typer.echo(f"warning: {warning}", err=True)
    if not docs:
        typer.echo("No jobs.")
    for d in docs:
        r = d["resources"]
        typer.echo(
            f"{d['cluster_id'] or '-':>8}  {d['id']}  {d['state']:<10} {d['reason'] or '':<16} "
            f"{r.get('nodes')}n/{r.get('ntasks')}t {r.get('time')}  {d['workdir']}"
        )


@jobs_app.command()
def cancel(
    job_id: Annotated[str, typer.Argument(help="mdbot's job id (j…) or Slurm's job id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Cancel a queued or running job (scancel)."""
    from mdbot.cluster.service import ClusterError

    cluster = _cluster(as_json)
    try:
        job = cluster.cancel(job_id)
    except ClusterError as exc:
        _fail(str(exc), 2 if exc.kind in USAGE_KINDS else 1, as_json)
    finally:
        cluster.close()
    _print({"job": job.document()}, as_json, f"Cancel sent for job {job.cluster_id} ({job.id}).")


def _print(doc: dict, as_json: bool, text: str) -> None:
    if as_json:
        print(json.dumps(doc, indent=2, default=str))
    else:
        typer.echo(text)


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)
    app.add_typer(jobs_app, name="jobs")


def cluster_for(brain):
    """The configured cluster on the brain's journal, for ``mdbot slack``; None when the lab has none."""
    from mdbot.cluster.settings import ClusterSettings

    settings = ClusterSettings()
    if not settings.enabled or brain.journal is None:
        return None
    if settings.problems():
        _fail("cannot use the cluster: " + "; ".join(settings.problems()) + " (see .env.example)", 2, False)
    from mdbot.cluster.service import Cluster
    from mdbot.cluster.store import JobStore

    return Cluster(settings, JobStore(brain.journal.engine), brain.context.sandbox)
