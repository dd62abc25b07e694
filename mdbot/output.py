"""The command line's failure contract (docs/architecture.md §4), shared by every ``mdbot`` command group."""

from __future__ import annotations

import json
import sys

import typer


def fail(message: str, code: int, as_json: bool) -> None:
    """Exit with ``code`` (2 bad usage or unreadable input, 1 internal failure) after saying why: one line on
    stderr, and with ``--json`` the one JSON document stdout owes."""
    if as_json:
        print(json.dumps({"status": "usage_error" if code == 2 else "internal_error", "message": message}))
    print(f"mdbot: {message}", file=sys.stderr)
    raise typer.Exit(code)
