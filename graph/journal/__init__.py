"""The journal (docs/architecture.md §6): SQLAlchemy models, Alembic migrations, and the :class:`Journal` store."""

from .store import Journal

__all__ = ["Journal"]
