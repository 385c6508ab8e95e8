"""Shared state for several service processes: the job queue's claims, rate limits, logins.

Revision ID: 0002_shared_state
Revises: 0001_initial
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_shared_state"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the claim columns to ``jobs`` and the shared tables."""
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("worker_id", sa.String(128), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", TS, nullable=True))
        batch.add_column(
            sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false())
        )
    op.create_index("ix_jobs_worker_id", "jobs", ["worker_id"])
    op.create_table(
        "queue_turns",
        sa.Column("owner_id", sa.String(32), primary_key=True),
        sa.Column("served_at", TS, nullable=True),
    )
    op.create_table(
        "rate_windows",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("hits", sa.JSON, nullable=False),
        sa.Column("last", sa.Float, nullable=False),
        sa.Column("allowed", sa.Boolean, nullable=False, server_default=sa.true()),
    )
    op.create_index("ix_rate_windows_last", "rate_windows", ["last"])
    op.create_table(
        "login_attempts",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last", sa.Float, nullable=False),
    )
    op.create_index("ix_login_attempts_last", "login_attempts", ["last"])


def downgrade() -> None:
    """Drop the shared tables and the claim columns."""
    for table in ("login_attempts", "rate_windows", "queue_turns"):
        op.drop_table(table)
    op.drop_index("ix_jobs_worker_id", "jobs")
    with op.batch_alter_table("jobs") as batch:
        for column in ("cancel_requested", "heartbeat_at", "worker_id"):
            batch.drop_column(column)
