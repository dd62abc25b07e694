"""The journal's tables (docs/architecture.md §6): every turn, what it retrieved, each attempt, the answer, feedback.

The journal is the only source of fine-tuning data, so it keeps whole scripts and results, not summaries.
Portable column types only (JSON, Text, DateTime with time zone): the same schema on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Interaction(Base):
    """One turn: a message and everything the bot did for it."""

    __tablename__ = "interactions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(200), index=True)
    user_id: Mapped[str | None] = mapped_column(String(100), index=True)
    channel: Mapped[str | None] = mapped_column(String(100), index=True)
    source: Mapped[str] = mapped_column(String(20), default="cli")  # cli, chat, slack, eval
    text: Mapped[str] = mapped_column(Text)
    files: Mapped[dict | list] = mapped_column(
        JSON, default=dict
    )  # {name: path} in the thread (old rows: [name])
    intent: Mapped[str | None] = mapped_column(String(20), index=True)
    route_reason: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(20), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    latency_s: Mapped[float | None] = mapped_column(Float)
    model_instruct: Mapped[str | None] = mapped_column(String(300))
    model_code: Mapped[str | None] = mapped_column(String(300))
    model_judge: Mapped[str | None] = mapped_column(String(300))
    model_calls: Mapped[int] = mapped_column(Integer, default=0)
    calls: Mapped[list] = mapped_column(JSON, default=list)  # role, model, purpose, tokens per call

    retrievals: Mapped[list[Retrieval]] = relationship(
        back_populates="interaction", cascade="all, delete-orphan"
    )
    attempts: Mapped[list[AttemptRow]] = relationship(
        back_populates="interaction", cascade="all, delete-orphan", order_by="AttemptRow.n"
    )
    answers: Mapped[list[Answer]] = relationship(back_populates="interaction", cascade="all, delete-orphan")
    feedback: Mapped[list[Feedback]] = relationship(
        back_populates="interaction", cascade="all, delete-orphan"
    )


class Retrieval(Base):
    __tablename__ = "retrievals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))  # passages, examples
    rank: Mapped[int] = mapped_column(Integer)
    doc_id: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str | None] = mapped_column(String(20))
    score: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str | None] = mapped_column(Text)

    interaction: Mapped[Interaction] = relationship(back_populates="retrievals")


class AttemptRow(Base):
    """One script tried in the sandbox, with both results and the critique."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    n: Mapped[int] = mapped_column(Integer)
    origin: Mapped[str] = mapped_column(String(40))
    script: Mapped[str] = mapped_column(Text)
    changes: Mapped[list] = mapped_column(JSON, default=list)
    check_status: Mapped[str | None] = mapped_column(String(20))
    check_result: Mapped[dict | None] = mapped_column(JSON)
    run_status: Mapped[str | None] = mapped_column(String(20))
    run_result: Mapped[dict | None] = mapped_column(JSON)  # without the thermo rows (kept in the job dir)
    health_ok: Mapped[bool | None] = mapped_column(Boolean)
    health_issues: Mapped[list] = mapped_column(JSON, default=list)
    critique: Mapped[dict | None] = mapped_column(JSON)
    score: Mapped[float | None] = mapped_column(Float)
    success: Mapped[bool] = mapped_column(Boolean, default=False)
    reward: Mapped[float | None] = mapped_column(Float)  # set by finetune when it scores the attempt
    workdir: Mapped[str | None] = mapped_column(Text)

    interaction: Mapped[Interaction] = relationship(back_populates="attempts")


class Answer(Base):
    __tablename__ = "answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    citations: Mapped[list] = mapped_column(JSON, default=list)
    flagged: Mapped[list] = mapped_column(JSON, default=list)  # invented commands removed from the answer
    script: Mapped[str | None] = mapped_column(Text)  # the final script of a script turn

    interaction: Mapped[Interaction] = relationship(back_populates="answers")


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str | None] = mapped_column(String(100))
    rating: Mapped[int] = mapped_column(Integer)  # +1 or -1
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    interaction: Mapped[Interaction] = relationship(back_populates="feedback")


# --- Several `mdbot slack` processes on one database (migration 0003; written by journal/coordination.py).
# Times are epoch seconds (Float): leases are arithmetic on them, the same on SQLite and PostgreSQL.


class SlackProcess(Base):
    """One running `mdbot slack` process and its heartbeat: a process whose heartbeat is older than the
    lease (or that said it stopped) is gone, and what it owned is taken over by another."""

    __tablename__ = "slack_processes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(20))  # socket, http
    started_at: Mapped[float] = mapped_column(Float)
    heartbeat_at: Mapped[float] = mapped_column(Float, index=True)
    stopped_at: Mapped[float | None] = mapped_column(Float)


class SlackEvent(Base):
    """An event delivered by Slack, by key (``event:<event_id>``): the first process to insert it handles it,
    every later delivery (a retry, another connection) is a duplicate. ``state`` is ``new`` until its
    request exists (or it was ignored); a ``new`` event of a process that is gone is taken over."""

    __tablename__ = "slack_events"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(10), index=True)  # new, done
    body: Mapped[dict | None] = mapped_column(JSON)  # kept while new, so another process can take it over
    received_at: Mapped[float] = mapped_column(Float, index=True)


class SlackThread(Base):
    """A thread the bot is in: follow-ups there need no mention, whichever process receives them."""

    __tablename__ = "slack_threads"

    thread_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    since: Mapped[float] = mapped_column(Float)


class SlackRequest(Base):
    """A message the bot works on (bot/lifecycle.py), in flight or done, with the process that owns it.
    ``key`` (``<channel>:<message ts>``) is unique: one request per message, whichever event brought it."""

    __tablename__ = "slack_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    thread_id: Mapped[str] = mapped_column(String(200), index=True)
    user_id: Mapped[str] = mapped_column(String(100), index=True)
    channel: Mapped[str] = mapped_column(String(100))
    thread_ts: Mapped[str] = mapped_column(String(50))
    message_ts: Mapped[str] = mapped_column(String(50))
    text: Mapped[str] = mapped_column(Text)
    files: Mapped[list] = mapped_column(JSON, default=list)
    status_ts: Mapped[str | None] = mapped_column(String(50))
    state: Mapped[str] = mapped_column(String(12), index=True)  # new queued started answered closed
    owner: Mapped[str] = mapped_column(String(64), index=True)
    turn_id: Mapped[str | None] = mapped_column(String(36))
    note: Mapped[str | None] = mapped_column(Text)  # why it was closed
    created_at: Mapped[float] = mapped_column(Float, index=True)
    updated_at: Mapped[float] = mapped_column(Float)


class SlackHome(Base):
    """A member who opened their Home tab (in any process), and when a process last published it: the
    process that ends one of their requests republishes it, at most once per interval across processes."""

    __tablename__ = "slack_homes"

    user_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    opened_at: Mapped[float] = mapped_column(Float)
    published_at: Mapped[float | None] = mapped_column(Float)
