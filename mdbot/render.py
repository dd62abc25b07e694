"""Human-readable rendering of results for the terminal (Rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from mdbot.sandbox.result import RunResult

_STYLE = {
    "ok": "bold green",
    "error": "bold red",
    "timeout": "bold yellow",
    "killed": "bold red",
    "rejected": "bold magenta",
}


def health_line(result: RunResult) -> str:
    """The health verdict in words: never "ok" for a job that failed or was refused."""
    h = result.health
    if result.status == "rejected":
        return "[magenta]not run[/] (the script was refused)"
    if result.status != "ok":
        issues = "; ".join(h.issues)
        return f"[red]broken[/] (the run ended: {result.status}" + (f"; {issues}" if issues else "") + ")"
    if not h.ok:
        return "[red]broken[/]: " + "; ".join(h.issues)
    if h.verdict == "equilibrating":
        return "[yellow]" + (h.reason or "not equilibrated yet") + "[/]"
    if h.verdict == "equilibrated":
        return "[green]" + (h.reason or "equilibrated") + "[/]"
    return "[green]ok[/] (no health problem found)"


def print_result(result: RunResult, title: str) -> None:
    console = Console()
    console.print(f"[{_STYLE[result.status]}]{title}: {result.status}[/] in {result.wall_s:.2f} s")
    if result.error:
        where = (
            f" (line {result.error.line}" + (f" of {result.error.file}" if result.error.file else "") + ")"
            if result.error.line
            else ""
        )
        console.print(f"[red]error{where}:[/] {result.error.message}", highlight=False)
        if result.error.command:
            console.print(f"  command: [cyan]{result.error.command}[/]", highlight=False)
        if result.error.hint:
            console.print(f"  hint: {result.error.hint}", highlight=False)
    for note in result.notes:
        console.print(f"[cyan]note:[/] {note}", highlight=False)
    for table in result.thermo[-1:]:
        if not table.rows:
            continue
        t = Table(title=f"thermo (last of {len(result.thermo)} table(s), {table.rows_total} rows)")
        for c in table.columns:
            t.add_column(c, justify="right")
        shown = table.rows if len(table.rows) <= 6 else [*table.rows[:3], *table.rows[-3:]]
        for row in shown:
            t.add_row(*("nan" if v is None else f"{v:.6g}" for v in row))
        console.print(t)
    if result.final_step is not None:
        console.print(f"final step: {result.final_step}")
    if result.performance.timesteps_per_s:
        console.print(f"performance: {result.performance.timesteps_per_s:g} timesteps/s")
    console.print(f"health: {health_line(result)}", highlight=False)
    if result.warnings:
        console.print(
            f"[yellow]{len(result.warnings)} warning(s):[/] " + "; ".join(result.warnings[:3]),
            highlight=False,
        )
    if result.console_tail and result.status != "ok":
        console.print("[dim]--- log tail ---[/]")
        console.print(result.console_tail, markup=False, highlight=False)
    if result.workdir:
        console.print(f"job directory: {result.workdir}")
        pics = [f.name for f in result.files if f.name.endswith((".png", ".jpg"))]
        if pics:
            console.print("pictures: " + ", ".join(f"{result.workdir}/{p}" for p in pics), highlight=False)
