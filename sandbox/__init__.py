"""Running LAMMPS isolated, bounded and parsed (docs/architecture.md §5). Public API: ``run``, ``check``."""

from __future__ import annotations

from typing import Any

__all__ = ["run", "check"]


def __getattr__(name: str) -> Any:  # lazy: `import sandbox.policy` must not pull in pydantic
    if name in __all__:
        from . import jobs

        return getattr(jobs, name)
    raise AttributeError(name)
