"""slack coordination: processes, events seen, threads followed, requests in flight (journal/coordination.py)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10 00:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_processes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("heartbeat_at", sa.Float(), nullable=False),
        sa.Column("stopped_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_slack_processes_heartbeat_at", "slack_processes", ["heartbeat_at"])
    op.create_table(
        "slack_events",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("body", sa.JSON(), nullable=True),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    for column in ("owner", "state", "received_at"):
        op.create_index(f"ix_slack_events_{column}", "slack_events", [column])
    op.create_table(
        "slack_threads",
        sa.Column("thread_id", sa.String(length=200), nullable=False),
        sa.Column("since", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("thread_id"),
    )
    op.create_table(
        "slack_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("thread_id", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("thread_ts", sa.String(length=50), nullable=False),
        sa.Column("message_ts", sa.String(length=50), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("status_ts", sa.String(length=50), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("turn_id", sa.String(length=36), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    for column in ("thread_id", "user_id", "state", "owner", "created_at"):
        op.create_index(f"ix_slack_requests_{column}", "slack_requests", [column])


def downgrade() -> None:
    for table in ("slack_requests", "slack_threads", "slack_events", "slack_processes"):
        op.drop_table(table)
