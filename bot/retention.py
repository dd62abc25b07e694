"""Retention: job directories (with their pictures and logs) and downloaded Slack attachments are kept for
``MDBOT_SLACK_RETENTION_DAYS`` and then removed — daily by the running bot, or now by ``mdbot prune``.

The floor: a directory with any file changed within ``MDBOT_SLACK_RETENTION_FLOOR_H`` hours is never
touched (a running job writes its log), whatever its age. Links are never followed; only directories
directly under the roots are removed, whole.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class Pruned:
    removed: list[str] = field(default_factory=list)
    kept_recent: int = 0  # within the floor: possibly running
    kept_young: int = 0  # younger than the retention time
    freed_mb: float = 0.0

    def document(self) -> dict:
        return {"removed": self.removed, "kept_recent": self.kept_recent, "kept_young": self.kept_young,
                "freed_mb": round(self.freed_mb, 1)}  # fmt: skip


def _newest(path: Path) -> tuple[float, int]:
    """(newest mtime of anything inside, total bytes), without following links."""
    newest, size = path.lstat().st_mtime, 0
    for root, dirs, files in os.walk(path, followlinks=False):
        for name in dirs + files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            newest = max(newest, st.st_mtime)
            size += st.st_size if name in files else 0
    return newest, size


def units_of(root: Path, depth: int) -> list[Path]:
    """The directories ``depth`` levels under ``root`` (jobs: 1; slack/<channel>/<thread>: 2)."""
    level = [root] if root.is_dir() and not root.is_symlink() else []
    for _ in range(depth):
        level = [p for d in level for p in d.iterdir() if p.is_dir() and not p.is_symlink()]
    return level


def prune(data_dir: Path, jobs_dir: Path, days: float, floor_h: float, dry_run: bool = False,
          now: float | None = None) -> Pruned:  # fmt: skip
    """Remove job and attachment directories older than ``days`` (0: keep everything)."""
    out = Pruned()
    if days <= 0:
        return out
    now = time.time() if now is None else now
    cutoff, floor = now - days * 86400, now - floor_h * 3600
    for unit in units_of(jobs_dir, 1) + units_of(data_dir / "slack", 2):
        try:
            newest, size = _newest(unit)
        except OSError:
            continue
        if newest >= floor:
            out.kept_recent += 1
        elif newest >= cutoff:
            out.kept_young += 1
        else:
            if not dry_run:
                shutil.rmtree(unit, ignore_errors=True)
            out.removed.append(str(unit))
            out.freed_mb += size / 1e6
    if out.removed:
        log.info("retention: removed %d directories (%.1f MB)%s", len(out.removed), out.freed_mb,
                 " (dry run)" if dry_run else "")  # fmt: skip
    return out
