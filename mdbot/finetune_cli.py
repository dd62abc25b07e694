"""``mdbot finetune …``: the learning loop's commands (DESIGN.md §3). Heavy imports stay inside commands."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="The learning loop: journal → datasets → CPT / SFT / GRPO LoRA adapters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
