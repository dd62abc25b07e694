"""An evaluation run's directory: resumable per-item results, then report.json, report.md and a chart.

``results.jsonl`` gets one line per finished item as soon as it is done, so a run that crashes at item 90
of 167 keeps 89 and a rerun with the same ``--out`` skips them. Items are worked on by a small thread pool
(``--concurrency``: the model endpoint, not this machine, is usually the bottleneck). An item whose work
raises is not written, so the rerun tries it again; the report counts it. The report carries what is needed
to compare runs: model ids, settings, the commit, the time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .scoring import BenchFileError

log = logging.getLogger(__name__)


def file_digest(path: Path) -> str:
    """SHA-256 of a benchmark file (an edited file is another benchmark)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


class Run:
    """One report directory. Rows are keyed by ``row["key"]`` (or ``row["id"]``).

    ``fingerprint`` is what makes rows comparable (model ids, judge, settings, the benchmark files' digests).
    It is kept in ``run.json``; resuming with another one is refused, since the old rows would be reported
    under the new model's name."""

    def __init__(self, out: Path, kind: str, fingerprint: dict | None = None):
        self.out, self.kind = Path(out), kind
        self.results_path = self.out / "results.jsonl"
        self.errors: list[dict] = []
        self._lock = threading.Lock()
        fingerprint = json.loads(json.dumps({"kind": kind, **(fingerprint or {})}, default=str))
        manifest = self.out / "run.json"
        if self.results_path.is_file() and manifest.is_file():
            try:
                old = json.loads(manifest.read_text()).get("fingerprint", {})
            except (ValueError, AttributeError):
                old = {}
            changed = sorted(k for k in set(old) | set(fingerprint) if old.get(k) != fingerprint.get(k))
            if changed:
                raise BenchFileError(
                    f"{self.out} holds a run with other {', '.join(changed)}; resuming would mix the two. "
                    "Use another --out (or delete that directory to start over)."
                )
        self.out.mkdir(parents=True, exist_ok=True)
        manifest.write_text(json.dumps({"fingerprint": fingerprint}, indent=1))

    def done(self) -> dict[str, dict]:
        """Items already finished by an earlier (interrupted) run, by key; a torn last line is ignored."""
        if not self.results_path.is_file():
            return {}
        out = {}
        for line in self.results_path.read_text().splitlines():
            try:
                row = json.loads(line)
                out[str(row.get("key", row["id"]))] = row
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
        return out

    def add(self, row: dict) -> None:
        with self._lock, open(self.results_path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
            fh.flush()

    def map(
        self,
        work: Iterable[tuple[str, Callable[[], dict]]],
        concurrency: int = 1,
        on_item: Callable[[int, int], None] | None = None,
    ) -> dict[str, dict]:
        """Do each ``(key, job)`` not done yet, ``concurrency`` at a time; every row by key.

        A job's row is appended the moment it finishes. A job that raises is logged and listed in
        ``self.errors`` (not written: the next run retries it)."""
        done = self.done()
        work = list(work)
        pending = [(k, job) for k, job in work if k not in done]
        total, finished = len(work), len(work) - len(pending)
        if on_item:
            on_item(finished, total)

        def one(key: str, job: Callable[[], dict]) -> dict:
            row = {"key": key, **job()}
            self.add(row)
            return row

        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            futures = {pool.submit(one, k, job): k for k, job in pending}
            for future in as_completed(futures):
                key = futures[future]
                try:
                    done[key] = future.result()
                except Exception as exc:  # noqa: BLE001 - one bad item must not end a 3-hour run
                    log.warning("%s failed: %s", key, exc)
                    self.errors.append({"key": key, "error": f"{type(exc).__name__}: {exc}"[:500]})
                finished += 1
                if on_item:
                    on_item(finished, total)
        return done

    def write(
        self, document: dict[str, Any], markdown: str, chart: dict[str, dict[str, float]] | None
    ) -> dict[str, Any]:
        """report.json (``document`` + provenance), report.md (``markdown`` + what was left out and where the
        run came from), and chart.png of ``chart`` ({group: {metric: value}}); returns the document written."""
        document = {**document, "out": str(self.out)}
        document.setdefault("provenance", {}).update(
            {"commit": _commit(), "finished_at": datetime.now(UTC).isoformat()}
        )
        (self.out / "report.json").write_text(json.dumps(document, indent=1))
        footer = ""
        if document.get("bad_lines"):
            footer += (
                f"\n{len(document['bad_lines'])} unusable line(s) skipped; see report.json `bad_lines`.\n"
            )
        if document.get("errors"):
            footer += (f"\n{len(document['errors'])} item(s) failed (model errors); rerun with the same --out to "
                       "retry them.\n")  # fmt: skip
        prov = document["provenance"]
        footer += f"\n_mdbot commit {prov['commit'] or 'unknown'}, finished {prov['finished_at'][:19]} UTC; "
        footer += "every item's reply and score are in results.jsonl._\n"
        (self.out / "report.md").write_text(markdown + footer)
        if chart:
            _bar_chart(chart, self.out / "chart.png", f"{self.kind} — {document.get('model', '')}")
        return document


def _commit() -> str | None:
    try:
        root = Path(__file__).resolve().parents[1]
        return (
            subprocess.run(
                ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        return None


def _bar_chart(groups: dict[str, dict[str, float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = list(next(iter(groups.values())))
    width = 0.8 / max(len(groups), 1)
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(metrics) + 2), 4), dpi=110)
    for i, (group, values) in enumerate(groups.items()):
        xs = [m + i * width for m in range(len(metrics))]
        heights = [values.get(m) for m in metrics]
        bars = ax.bar(xs, [h or 0.0 for h in heights], width, label=group)
        ax.bar_label(bars, labels=["–" if h is None else f"{h:.2f}" for h in heights], fontsize=7)
    ax.set_xticks([m + width * (len(groups) - 1) / 2 for m in range(len(metrics))], metrics)
    ax.set_ylim(0, 1.1)
    ax.set_title(title, fontsize=10)
    ax.legend(
        fontsize=8, ncols=min(len(groups), 4), loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def number(v: Any) -> str:
    """How reports show a value: fractions and scores to three decimals, counts as they are, missing as "–"."""
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def md_table(rows: dict[str, dict[str, Any]], metrics: list[str]) -> str:
    """A Markdown table, one row per key, cells shown by :func:`number`."""
    head = "| | " + " | ".join(metrics) + " |\n|---|" + "---|" * len(metrics) + "\n"
    return head + "".join(
        f"| {name} | " + " | ".join(number(r.get(m)) for m in metrics) + " |\n" for name, r in rows.items()
    )
