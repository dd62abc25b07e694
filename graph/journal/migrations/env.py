"""Alembic environment: migrations run from code (Journal.open) with the connection passed in, or from
the ``alembic`` command with ``-x url=…``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from mdbot.cluster.store import metadata as cluster_metadata
from mdbot.graph.journal.models import Base

config = context.config
# The journal's database also holds mdbot.cluster's table (migration 0002): autogenerate must see both.
target_metadata = [Base.metadata, cluster_metadata]


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    engine = create_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
