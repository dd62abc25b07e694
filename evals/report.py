"""An evaluation run's directory: resumable per-item results, then report.json, report.md and a chart.

``results.jsonl`` gets one line per finished item as soon as it is done, so a run that crashes at item 90
of 167 keeps 89 and a rerun with the same ``--out`` skips them. The report carries what is needed to
compare runs: model ids, settings, the commit, the time.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class Run:
    def __init__(self, out: Path, kind: str):
        self.out, self.kind = Path(out), kind
        self.out.mkdir(parents=True, exist_ok=True)
        self.results_path = self.out / "results.jsonl"

    def done(self) -> dict[str, dict]:
        """Items already finished by an earlier (interrupted) run, by id; a torn last line is ignored."""
        if not self.results_path.is_file():
            return {}
        out = {}
        for line in self.results_path.read_text().splitlines():
            try:
                row = json.loads(line)
                out[str(row["id"])] = row
            except (ValueError, KeyError, TypeError):
                continue
        return out

    def add(self, row: dict) -> None:
        with open(self.results_path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
            fh.flush()

    def write(
        self, document: dict[str, Any], markdown: str, chart: dict[str, dict[str, float]] | None
    ) -> None:
        """report.json (``document`` + provenance), report.md, and chart.png of ``chart`` ({group: {metric: value}})."""
        document = {**document, "out": str(self.out)}
        document.setdefault("provenance", {}).update(
            {"commit": _commit(), "finished_at": datetime.now(UTC).isoformat()}
        )
        (self.out / "report.json").write_text(json.dumps(document, indent=1))
        (self.out / "report.md").write_text(markdown)
        if chart:
            _bar_chart(chart, self.out / "chart.png", f"{self.kind} — {document.get('model', '')}")


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
        bars = ax.bar(xs, [values.get(m, 0.0) for m in metrics], width, label=group)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks([m + width * (len(groups) - 1) / 2 for m in range(len(metrics))], metrics)
    ax.set_ylim(0, 1.08)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, ncols=min(len(groups), 4))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def md_table(rows: dict[str, dict[str, float]], metrics: list[str]) -> str:
    head = "| | " + " | ".join(metrics) + " |\n|---|" + "---|" * len(metrics) + "\n"
    return head + "".join(
        f"| {name} | " + " | ".join(f"{r.get(m, 0):.3f}" for m in metrics) + " |\n"
        for name, r in rows.items()
    )
