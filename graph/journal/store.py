"""Writing and reading the journal. SQLite under MDBOT_DATA_DIR by default, PostgreSQL by URL.

The schema is created and upgraded by Alembic migrations when the journal opens (idempotent, cheap when
current), so a lab upgrading mdbot keeps its history. On SQLite (one file for every thread and every process):
WAL so readers never wait, ``synchronous=NORMAL`` so a commit does not wait for the disk (what WAL loses to
a power cut is the last commits, never the file's consistency; a crash of the process loses nothing), a busy
timeout for the other processes, and :func:`write_lock` so this process's threads write in turn.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect, select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session, sessionmaker

from mdbot.graph.state import health_of, result_of, succeeded

from .models import Answer, AttemptRow, Feedback, Interaction, Retrieval

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration's revision (a test checks it against Alembic's head): a journal already there opens
# without importing Alembic, which costs a cold `mdbot ask` ~0.25 s.
HEAD = "0004"


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _revision(conn) -> str | None:
    """The schema's Alembic revision, None for a new database."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sql("SELECT version_num FROM alembic_version")).scalar()


def _engine_url(url: str) -> str:
    """psycopg 3 is the PostgreSQL driver we install; plain ``postgresql://`` URLs mean it."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


_WRITE_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCKS_LOCK = threading.Lock()


def write_lock(engine):
    """What this process's writers to ``engine`` take in turn. SQLite allows one writer at a time per file,
    and threads that meet its lock sleep in its busy handler (1 ms, 2 ms, 5 ms … 100 ms between tries, no
    queue), so a burst of short writes from many threads waits far longer than the writes take; a lock here
    queues them instead and leaves the busy timeout to the other processes. PostgreSQL locks rows: nothing."""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _LOCKS_LOCK:
        lock = _WRITE_LOCKS.get(engine)
        if lock is None:
            lock = _WRITE_LOCKS[engine] = threading.Lock()
        return lock


@contextmanager
def _migrating(url: str):
    """Processes that open a new SQLite journal together would both create its tables: a file lock next
    to the database makes them take turns (PostgreSQL uses an advisory lock in the transaction instead)."""
    if not url.startswith("sqlite:///"):
        yield
        return
    import fcntl

    with open(url.removeprefix("sqlite:///") + ".migrate.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class Journal:
    """The journal of one deployment. Thread-safe: every call uses its own session."""

    def __init__(self, url: str):
        self.url = _engine_url(url)
        if self.url.startswith("sqlite:///"):
            Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        sqlite_file = self.url.startswith("sqlite:///") and ":memory:" not in self.url
        # a file has no server to lose: no ping per checkout; a pool as large as the bot's threads that read
        self.engine = create_engine(self.url, pool_pre_ping=not sqlite_file,
                                    **({"pool_size": 20, "max_overflow": 20} if sqlite_file else {}))  # fmt: skip
        if self.engine.dialect.name == "sqlite":

            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn, _record):  # foreign keys, concurrent readers, commits without fsync
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA busy_timeout=10000")
                cur.close()

        with _migrating(self.url), self.engine.begin() as conn:  # one process at a time (several bots)
            if self.engine.dialect.name == "postgresql":
                conn.execute(sql("SELECT pg_advisory_xact_lock(7243001)"))  # released at commit
            if _revision(conn) != HEAD:
                from alembic import command

                cfg = alembic_config(self.url)
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    # ----------------------------------------------------------------------------------------- writing
    def record_turn(
        self,
        *,
        thread_id: str,
        text: str,
        state: dict[str, Any],
        started_at: datetime,
        latency_s: float,
        models: dict[str, str | None],
        user_id: str | None = None,
        channel: str | None = None,
        source: str = "cli",
        error: str | None = None,
    ) -> str:
        """Store one finished (or failed) turn from the graph's final state; returns its id."""
        turn_id = str(uuid.uuid4())
        row = Interaction(
            id=turn_id,
            thread_id=thread_id,
            user_id=user_id,
            channel=channel,
            source=source,
            text=text,
            files=dict(sorted((state.get("files") or {}).items())),  # name -> absolute path (finetune)
            intent=state.get("intent"),
            route_reason=state.get("route_reason"),
            outcome="error" if error else state.get("outcome"),
            error=error,
            started_at=started_at,
            finished_at=datetime.now(UTC),
            latency_s=latency_s,
            model_instruct=models.get("instruct"),
            model_code=models.get("code"),
            model_judge=models.get("judge"),
            model_calls=state.get("model_calls", 0) or 0,
            calls=state.get("calls", []) or [],
        )
        for purpose in ("passages", "examples"):
            for rank, hit in enumerate(state.get(purpose, []) or [], 1):
                row.retrievals.append(
                    Retrieval(
                        purpose=purpose,
                        rank=rank,
                        doc_id=hit.get("doc_id", ""),
                        kind=hit.get("kind"),
                        score=hit.get("score"),
                        source=hit.get("source"),
                    )
                )
        for a in state.get("attempts", []) or []:
            run, health = a["run"], health_of(a["run"])
            row.attempts.append(
                AttemptRow(
                    n=a["n"],
                    origin=a["origin"],
                    script=a["script"],
                    changes=a["changes"],
                    check_status=a["check"]["status"],
                    check_result=_slim(a["check"]),
                    run_status=run["status"] if run else None,
                    run_result=_slim(run),
                    health_ok=health.get("ok") if run else None,
                    health_issues=health.get("issues", []),
                    critique=a["critique"],
                    score=a["critique"]["score"] if a["critique"] else None,
                    success=succeeded(a),
                    workdir=result_of(a).get("workdir"),
                )
            )
        if state.get("answer") or error:
            row.answers.append(
                Answer(
                    text=state.get("answer") or "",
                    citations=state.get("citations", []) or [],
                    flagged=state.get("flagged", []) or [],
                    script=state.get("script") if state.get("attempts") else None,
                )
            )
        with write_lock(self.engine), self.sessions.begin() as session:
            session.add(row)
        return turn_id

    def add_feedback(
        self,
        turn_id: str,
        rating: int,
        user_id: str | None = None,
        comment: str | None = None,
        replace: bool = False,
    ) -> int:
        """Store a 👍 (+1) or 👎 (−1), optionally with a comment. Raises KeyError for an unknown turn.
        ``replace``: this user's earlier ratings of the turn are removed first (the console's /good, /bad)."""
        if rating not in (1, -1):
            raise ValueError("rating must be +1 or -1")
        with write_lock(self.engine), self.sessions.begin() as session:
            if session.get(Interaction, turn_id) is None:
                raise KeyError(turn_id)
            if replace:
                earlier = select(Feedback).where(Feedback.interaction_id == turn_id, Feedback.user_id == user_id)
                for old in session.scalars(earlier).all():
                    session.delete(old)
            fb = Feedback(interaction_id=turn_id, rating=rating, user_id=user_id, comment=comment)
            session.add(fb)
            session.flush()
            return fb.id

    # ----------------------------------------------------------------------------------------- reading
    def session(self) -> Session:
        return self.sessions()

    def has_thread(self, thread_id: str) -> bool:
        """Whether any turn of this thread was recorded (the bot then follows it without a mention)."""
        with self.sessions() as session:
            q = select(Interaction.id).where(Interaction.thread_id == thread_id).limit(1)
            return session.scalar(q) is not None

    def turns(self, thread_id: str | None = None, limit: int | None = None) -> list[Interaction]:
        """Turns with their attempts, answers and feedback loaded, oldest first."""
        from sqlalchemy.orm import selectinload

        q = select(Interaction).order_by(Interaction.started_at)
        if thread_id:
            q = q.where(Interaction.thread_id == thread_id)
        if limit:
            q = q.limit(limit)
        q = q.options(
            selectinload(Interaction.attempts),
            selectinload(Interaction.answers),
            selectinload(Interaction.retrievals),
            selectinload(Interaction.feedback),
        )
        with self.sessions() as session:
            return list(session.scalars(q))


def _slim(result: dict | None) -> dict | None:
    """A result without its thermo rows (they stay in the job directory's log) but with the last row."""
    if not result:
        return None
    out = dict(result)
    tables = []
    for t in result.get("thermo", []) or []:
        rows = t.get("rows", [])
        tables.append(
            {
                "columns": t.get("columns", []),
                "rows_total": t.get("rows_total", len(rows)),
                "last": rows[-1] if rows else None,
            }
        )
    out["thermo"] = tables
    return out
