"""Progress of long work on stderr: a bar with rate and time left on a terminal, plain lines otherwise.

Off a terminal (``make run``'s log, a pipe, a test) a line is printed when a stage starts and at most every
few seconds after, with the rate and the time left, and a heartbeat says which stage is still running when
nothing has moved for a while: no stage is silent for more than ``HEARTBEAT_S`` seconds.
"""

from __future__ import annotations

import threading
import time

LINE_EVERY_S = 5.0
HEARTBEAT_S = 5.0
LABELS = {
    "opening": "opening the knowledge base",
    "reading": "reading files",
    "indexing": "building the lexical index",
    "model": "loading the embedding model",
    "embedding": "embedding passages",
}


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class IngestProgress:
    """Callable as ``progress(stage, done, total)``; a context manager around the work."""

    def __init__(self, console):
        self.console = console
        self.terminal = console.is_terminal
        self.stage = ""
        self.stage_start = self.last_line = self.last_event = time.monotonic()
        self.done = self.total = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._bar = None
        self._tasks: dict[str, int] = {}

    def __enter__(self):
        if self.terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description:>26}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._bar.__enter__()
        else:
            threading.Thread(target=self._heartbeat, name="ingest-heartbeat", daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False

    def rate(self) -> float:
        elapsed = time.monotonic() - self.stage_start
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        label = LABELS.get(self.stage, self.stage)
        text = f"{label}: {self.done}/{self.total}"
        rate = self.rate()
        if self.total and 0 < self.done < self.total and rate > 0:
            text += f" ({rate:.0f}/s, {_duration((self.total - self.done) / rate)} left)"
        elif self.done >= self.total:
            text += f" in {_duration(time.monotonic() - self.stage_start)}"
        return text

    def __call__(self, stage: str, done: int, total: int) -> None:
        with self._lock:
            now = time.monotonic()
            new = stage != self.stage
            if new:
                self.stage, self.stage_start = stage, now
            self.done, self.total, self.last_event = done, total, now
            if self._bar is not None:
                if stage not in self._tasks:
                    self._tasks[stage] = self._bar.add_task(LABELS.get(stage, stage), total=total, rate="")
                rate = self.rate()
                self._bar.update(
                    self._tasks[stage], completed=done, total=total, rate=f"{rate:.0f}/s" if rate else ""
                )
                return
            if new or done >= total or now - self.last_line >= LINE_EVERY_S:
                self.console.print(self.line(), highlight=False, markup=False)
                self.last_line = now

    def _heartbeat(self) -> None:
        while not self._stop.wait(1.0):
            with self._lock:
                now = time.monotonic()
                if self.stage and now - self.last_line >= HEARTBEAT_S:
                    moved = now - self.last_event >= HEARTBEAT_S
                    text = self.line() + (f" … still working ({_duration(now - self.stage_start)})" if moved else "")
                    self.console.print(text, highlight=False, markup=False)
                    self.last_line = now
