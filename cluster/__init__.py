"""Real runs on the lab's Slurm cluster (docs/architecture.md §10): plan, test in the sandbox, submit, follow.

Public API, imported lazily: :class:`~.service.Cluster` (plan, prepare, submit, cancel, list) and
:class:`~.poller.Poller` (one ``squeue`` per interval for every open job). mdbot is Slurm's client; it
schedules nothing itself. Depends on nothing of ours except :mod:`mdbot.sandbox`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Cluster", "ClusterSettings", "Poller"]


def __getattr__(name: str) -> Any:  # lazy: the CLI's --help must not import SQLAlchemy or pydantic
    if name == "Cluster":
        from .service import Cluster

        return Cluster
    if name == "ClusterSettings":
        from .settings import ClusterSettings

        return ClusterSettings
    if name == "Poller":
        from .poller import Poller

        return Poller
    raise AttributeError(name)
