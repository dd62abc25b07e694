"""The journal (DESIGN.md §5): SQLAlchemy models, Alembic migrations, and the :class:`Journal` store."""

from .store import Journal

__all__ = ["Journal"]
