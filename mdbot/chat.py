"""The console face of the brain: ``mdbot ask`` renders one turn, ``mdbot chat`` is an interactive thread.

Same graph, same journal as Slack; progress events drive a spinner on stderr so stdout stays the answer.
"""

from __future__ import annotations

import shlex
import uuid
from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown

CHAT_HELP = """Type a question or a request; follow-ups continue the same thread. One paste is one message,
fenced or not (in a terminal: a sentence, then a pasted script, then Enter); without a terminal a block
between ``` fences is read as one message, up to the closing fence.
  /attach FILE…   attach files to your next message (input script, data, potential)
  /good [comment] /bad [comment]   rate the last answer (stored in the journal)
  /new            start a new thread        /quit   leave (Ctrl-D works too)"""


def render_turn(turn, out: Console) -> None:
    """The answer as Markdown, then its sources and pictures."""
    out.print(Markdown(turn.answer or "_(no answer)_"))
    cited = [c for c in turn.citations if c.get("cited", True)] or turn.citations
    if cited:
        out.print()
        out.print("[bold]Sources[/]")
        for c in cited:
            section = f" — {c['section']}" if c.get("section") else ""
            version = f" (manual of {c['version']})" if c.get("version") else ""
            where = c.get("url") or c.get("source", "")
            from rich.markup import escape

            label = escape(f"[{c['n']}] {c['title']}{section}{version}")
            out.print(f"  {label}  [dim]{escape(where)}[/]", highlight=False)
    if turn.pictures:
        out.print("[bold]Pictures[/] " + "  ".join(turn.pictures), highlight=False)
    meta = (
        f"intent {turn.intent} · {turn.outcome} · {turn.model_calls} model call(s) · {turn.latency_s:.1f} s"
    )
    out.print(f"[dim]{meta} · turn {turn.turn_id}[/]", highlight=False)


class Spinner:
    """Shows the latest progress event while the graph works."""

    def __init__(self, err: Console):
        self.err = err
        self.status = None

    def __enter__(self):
        if self.err.is_terminal:
            self.status = self.err.status("Thinking…")
            self.status.__enter__()
        return self

    def __call__(self, event: dict) -> None:
        text = event.get("text") or event.get("stage", "")
        if self.status is not None:
            self.status.update(text)
        else:
            self.err.print(f"[dim]… {text}[/]", highlight=False)

    def __exit__(self, *exc):
        if self.status is not None:
            self.status.__exit__(*exc)


def _line_reader(out: Console):
    """Reads one message: in a terminal through prompt_toolkit, where a paste (bracketed paste) is inserted
    whole, newlines and all, and Enter sends it; otherwise line by line, a ``` block kept together."""
    import sys

    if sys.stdin.isatty() and sys.stdout.isatty():
        from prompt_toolkit import PromptSession
        from prompt_toolkit.formatted_text import HTML

        session = PromptSession()

        def read() -> str:
            return session.prompt(HTML("<b><ansicyan>you ›</ansicyan></b> "))

        return read

    def read_lines() -> str:
        line = out.input("[bold cyan]you ›[/] ")
        while line.count("```") % 2:  # a pasted code block is one message, not one per line
            line += "\n" + out.input("[dim]  …[/] ")
        return line

    return read_lines


def _rate(brain, turn, rating: int, comment: str | None, rated: dict, out: Console) -> None:
    """/good and /bad: the latest rating of an answer replaces the earlier one, and says so."""
    earlier = rated.get(turn.turn_id)
    brain.journal.add_feedback(turn.turn_id, rating, "console", comment, replace=True)
    rated[turn.turn_id] = rating
    if earlier is not None and earlier != rating:
        was = "👍 /good" if earlier > 0 else "👎 /bad"
        out.print(f"thanks — stored in the journal; it replaces your earlier {was} of this answer")
    else:
        out.print("thanks — stored in the journal")


def chat(brain, thread_id: str | None = None) -> None:
    from mdbot.graph.service import InputFileError, stage_files

    out, err = Console(), Console(stderr=True)
    thread = thread_id or f"chat:{uuid.uuid4()}"
    pending: dict[str, str] = {}
    rated: dict[str, int] = {}
    last_turn = None
    offline = " (offline: no model configured, see .env.example)" if brain.context.offline else ""
    out.print(f"[bold]mdbot chat[/] — thread {thread}{offline}. /help for commands.", highlight=False)
    read = _line_reader(out)
    while True:
        try:
            text = read().strip()
        except (EOFError, KeyboardInterrupt):
            out.print()
            return
        if not text:
            continue
        if text.startswith("/") and "\n" not in text:
            cmd, _, rest = text.partition(" ")
            if cmd in ("/quit", "/exit", "/q"):
                return
            if cmd == "/help":
                out.print(CHAT_HELP, highlight=False)
            elif cmd == "/new":
                thread, pending, last_turn = f"chat:{uuid.uuid4()}", {}, None
                out.print(f"new thread {thread}", highlight=False)
            elif cmd == "/attach":
                try:
                    names = shlex.split(rest)
                    if not names:
                        out.print("[yellow]usage: /attach FILE… (an input script, data or potential files)[/]")
                        continue
                    pending.update(stage_files([Path(p).expanduser() for p in names]))
                    out.print("attached: " + ", ".join(pending), highlight=False)
                except (InputFileError, ValueError) as exc:
                    out.print(f"[red]{exc}[/]", highlight=False)
            elif cmd in ("/good", "/bad"):
                if last_turn is None or last_turn.turn_id is None or brain.journal is None:
                    out.print("[yellow]nothing to rate yet[/]")
                else:
                    _rate(brain, last_turn, 1 if cmd == "/good" else -1, rest or None, rated, out)
            else:
                out.print(f"[yellow]unknown command {cmd}[/]; /help lists them", highlight=False)
            continue
        with Spinner(err) as spinner:
            last_turn = brain.ask(text, pending, thread_id=thread, source="chat", on_progress=spinner)
        pending = {}
        render_turn(last_turn, out)
