"""Where conversation threads are checkpointed: SQLite under MDBOT_DATA_DIR, or PostgreSQL by URL."""

from __future__ import annotations

import sqlite3
from typing import Any

from .settings import GraphSettings


def open_checkpointer(settings: GraphSettings) -> tuple[Any, Any]:
    """(checkpointer, closer). The closer releases the connection or pool."""
    url = settings.database_url
    if url and url.split("://", 1)[0].split("+", 1)[0] in ("postgresql", "postgres"):
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        conninfo = "postgresql://" + url.split("://", 1)[1]
        pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=8,
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
            open=True,
        )
        saver = PostgresSaver(pool)
        saver.setup()
        return saver, pool.close
    if url and not url.startswith("sqlite"):
        raise ValueError(
            f"MDBOT_DATABASE_URL must be a postgresql:// or sqlite:/// URL, not {url.split(':', 1)[0]}"
        )
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = settings.checkpoint_path
    if url and url.startswith("sqlite:///"):
        from pathlib import Path

        path = Path(url.removeprefix("sqlite:///")).with_suffix(".checkpoints.sqlite")
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    saver = SqliteSaver(conn)
    saver.setup()
    return saver, conn.close
