"""Cluster jobs in the journal's database: one row per job (thread, user, cluster, Slurm id, script, files,
resources, state history, timestamps), so a restarted bot picks up every open job.

The table (``cluster_jobs``) is created by the journal's migration ``0002_cluster_jobs``
(docs/architecture.md §6); this module only reads and writes it, through SQLAlchemy Core, on the engine it is
given. ``claim_report`` is atomic, so a job's final message is posted once whoever polls.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Engine

metadata = MetaData()
jobs = Table(
    "cluster_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("cluster", String(100), nullable=False),
    Column("cluster_id", String(50), index=True),
    Column("thread_id", String(200), index=True),
    Column("user_id", String(100), index=True),
    Column("channel", String(100)),
    Column("status_ts", String(50)),
    Column("script_name", String(200), nullable=False),
    Column("script", Text, nullable=False),
    Column("files", JSON, nullable=False),
    Column("resources", JSON, nullable=False),
    Column("workdir", Text, nullable=False),
    Column("local_dir", Text, nullable=False),
    Column("state", String(30), nullable=False, index=True),
    Column("open", Boolean, nullable=False, index=True),
    Column("reason", String(300)),
    Column("history", JSON, nullable=False),
    Column("test_run", JSON),
    Column("result", JSON),
    Column("error", Text),
    Column("notes", JSON, nullable=False),
    Column("reported", Boolean, nullable=False),
    Column("parent_id", String(32)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("submitted_at", DateTime(timezone=True)),
    Column("started_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
)


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return "j" + secrets.token_hex(5)


@dataclass
class JobRecord:
    id: str
    cluster: str
    script_name: str
    script: str
    workdir: str
    local_dir: str
    state: str
    open: bool
    cluster_id: str | None = None
    thread_id: str | None = None
    user_id: str | None = None
    channel: str | None = None
    status_ts: str | None = None
    files: list[str] = field(default_factory=list)
    resources: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    history: list[dict] = field(default_factory=list)
    test_run: dict | None = None
    result: dict | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    reported: bool = False
    parent_id: str | None = None
    created_at: datetime = field(default_factory=now)
    submitted_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def thread(self) -> tuple[str, str] | None:
        """(channel, thread_ts) of the Slack thread, None for a job from the command line."""
        if not self.thread_id or ":" not in self.thread_id:
            return None
        channel, ts = self.thread_id.split(":", 1)
        return channel, ts

    def document(self) -> dict:
        """The job in the command line's JSON contract (docs/architecture.md §4)."""
        return {
            "id": self.id,
            "cluster": self.cluster,
            "cluster_id": self.cluster_id,
            "state": self.state,
            "reason": self.reason,
            "open": self.open,
            "resources": self.resources,
            "workdir": self.workdir,
            "user": self.user_id,
            "thread": self.thread_id,
            "parent": self.parent_id,
            "error": self.error,
            "notes": self.notes,
            "history": self.history,
            "created_at": _iso(self.created_at),
            "submitted_at": _iso(self.submitted_at),
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
            "result": self.result,
        }


def _iso(t: datetime | None) -> str | None:
    if t is None:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).isoformat()


_COLUMNS = {f.name for f in fields(JobRecord)}


class SchemaMissing(RuntimeError):
    """The database has no cluster_jobs table: open the journal first (it runs the migrations)."""


class JobStore:
    """Reads and writes ``cluster_jobs``. Thread-safe: each call is its own transaction."""

    def __init__(self, engine: Engine):
        self.engine = engine
        if not inspect(engine).has_table("cluster_jobs"):
            raise SchemaMissing(
                "the journal has no cluster_jobs table: open it with mdbot's Journal, which migrates it"
            )

    def _record(self, row) -> JobRecord:
        data = {k: v for k, v in row._mapping.items() if k in _COLUMNS}
        for key in ("created_at", "submitted_at", "started_at", "ended_at"):
            t = data.get(key)
            if t is not None and t.tzinfo is None:
                data[key] = t.replace(tzinfo=UTC)  # SQLite returns naive datetimes
        return JobRecord(**data)

    def add(self, record: JobRecord) -> JobRecord:
        values = {f: getattr(record, f) for f in _COLUMNS}
        with self.engine.begin() as conn:
            conn.execute(jobs.insert().values(**values))
        return record

    def update(self, job_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))

    def record_state(self, job: JobRecord, state: str, reason: str | None, **values: Any) -> JobRecord:
        """A new state (or reason) in the job's history; returns the updated record."""
        entry = {"at": now().isoformat(), "state": state, "reason": reason}
        history = [*job.history, entry]
        self.update(job.id, state=state, reason=reason, history=history, **values)
        return self.get(job.id) or job

    def get(self, job_id: str) -> JobRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
        return self._record(row) if row else None

    def find(self, key: str) -> JobRecord | None:
        """A job by mdbot's id or by its Slurm id (the most recent one with that id)."""
        job = self.get(key)
        if job:
            return job
        with self.engine.connect() as conn:
            q = select(jobs).where(jobs.c.cluster_id == key).order_by(jobs.c.created_at.desc()).limit(1)
            row = conn.execute(q).first()
        return self._record(row) if row else None

    def open_jobs(self, cluster: str | None = None) -> list[JobRecord]:
        q = select(jobs).where(jobs.c.open.is_(True)).order_by(jobs.c.created_at)
        if cluster:
            q = q.where(jobs.c.cluster == cluster)
        with self.engine.connect() as conn:
            return [self._record(r) for r in conn.execute(q)]

    def unreported(self, cluster: str | None = None) -> list[JobRecord]:
        """Ended jobs of a Slack thread whose final message was not posted yet (the bot stopped in between)."""
        q = select(jobs).where(
            jobs.c.open.is_(False), jobs.c.reported.is_(False), jobs.c.thread_id.is_not(None)
        )
        q = q.where(jobs.c.submitted_at.is_not(None))
        if cluster:
            q = q.where(jobs.c.cluster == cluster)
        with self.engine.connect() as conn:
            return [self._record(r) for r in conn.execute(q)]

    def recent(self, limit: int = 50, user: str | None = None) -> list[JobRecord]:
        q = select(jobs).order_by(jobs.c.created_at.desc()).limit(limit)
        if user:
            q = q.where(jobs.c.user_id == user)
        with self.engine.connect() as conn:
            return [self._record(r) for r in conn.execute(q)]

    def count_open(self, user: str | None = None) -> int:
        from sqlalchemy import func

        q = select(func.count()).select_from(jobs).where(jobs.c.open.is_(True))
        if user:
            q = q.where(jobs.c.user_id == user)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar() or 0)

    def claim_report(self, job_id: str) -> bool:
        """True for exactly one caller: the one that posts the job's final message."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(jobs).where(jobs.c.id == job_id, jobs.c.reported.is_(False)).values(reported=True)
            )
        return done.rowcount == 1
