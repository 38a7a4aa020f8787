"""The archive: runs, run logs, reruns, events, trait evaluations, alerts, cursors.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _archived_at() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("archived_at", TZ, nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.Text(), primary_key=True),
        sa.Column("pipeline_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("metadata", JSONB()),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        _archived_at(),
    )
    op.create_index("ix_runs_pipeline_created", "runs", ["pipeline_id", "created_at"])
    op.create_index("ix_runs_pipeline_status", "runs", ["pipeline_id", "status"])

    op.create_table(
        "run_logs",
        sa.Column("pipeline_id", sa.Text(), primary_key=True),
        sa.Column("date", sa.Text(), primary_key=True),
        sa.Column("schedule_id", sa.Text(), primary_key=True, server_default=sa.text("'daily'")),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("attempt_number", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("failure_message", sa.Text()),
        sa.Column("failure_category", sa.Text()),
        sa.Column("alert_sent", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("retry_history", JSONB()),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("completed_at", TZ),
        sa.Column("updated_at", TZ, nullable=False),
        _archived_at(),
    )
    op.create_index("ix_run_logs_status", "run_logs", ["status"])
    op.create_index("ix_run_logs_date", "run_logs", ["date"])

    op.create_table(
        "reruns",
        sa.Column("rerun_id", sa.Text(), primary_key=True),
        sa.Column("pipeline_id", sa.Text(), nullable=False),
        sa.Column("original_date", sa.Text(), nullable=False),
        sa.Column("original_run_id", sa.Text()),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("rerun_run_id", sa.Text()),
        sa.Column("metadata", JSONB()),
        sa.Column("requested_at", TZ, nullable=False),
        sa.Column("completed_at", TZ),
        _archived_at(),
    )
    op.create_index("ix_reruns_pipeline_status", "reruns", ["pipeline_id", "status"])

    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("pipeline_id", sa.Text(), nullable=False),
        sa.Column("stream_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Text()),
        sa.Column("trait_type", sa.Text()),
        sa.Column("status", sa.Text()),
        sa.Column("message", sa.Text()),
        sa.Column("details", JSONB()),
        sa.Column("timestamp", TZ, nullable=False),
        _archived_at(),
    )
    op.create_index("uq_events_pipeline_stream", "events", ["pipeline_id", "stream_id"], unique=True)
    op.create_index("ix_events_kind_timestamp", "events", ["kind", "timestamp"])
    op.create_index("ix_events_pipeline_timestamp", "events", ["pipeline_id", "timestamp"])

    op.create_table(
        "trait_evaluations",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("pipeline_id", sa.Text(), nullable=False),
        sa.Column("stream_id", sa.Text(), nullable=False),
        sa.Column("trait_type", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("value", JSONB()),
        sa.Column("reason", sa.Text()),
        sa.Column("failure_category", sa.Text()),
        sa.Column("evaluated_at", TZ, nullable=False),
        _archived_at(),
    )
    op.create_index("uq_trait_evaluations_pipeline_stream", "trait_evaluations", ["pipeline_id", "stream_id"],
                    unique=True)
    op.create_index("ix_trait_evaluations_pipeline_type", "trait_evaluations",
                    ["pipeline_id", "trait_type", "evaluated_at"])

    op.create_table(
        "alerts",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("change_id", sa.Text(), nullable=False),
        sa.Column("alert_id", sa.Text()),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("alert_type", sa.Text()),
        sa.Column("pipeline_id", sa.Text()),
        sa.Column("trait_type", sa.Text()),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", JSONB()),
        sa.Column("timestamp", TZ, nullable=False),
        _archived_at(),
        sa.UniqueConstraint("change_id", name="uq_alerts_change_id"),
    )
    op.create_index("ix_alerts_pipeline_timestamp", "alerts", ["pipeline_id", "timestamp"])

    op.create_table(
        "archive_cursors",
        sa.Column("stream", sa.Text(), primary_key=True),
        sa.Column("cursor_value", sa.Text(), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    for table in ("archive_cursors", "alerts", "trait_evaluations", "events", "reruns", "run_logs", "runs"):
        op.drop_table(table)
