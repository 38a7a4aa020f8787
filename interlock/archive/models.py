"""The Postgres archive schema (SQLAlchemy 2): the history that outlives the store's retention.

Every table keeps the natural key of its record, so replaying a batch of changes is a no-op:
runs by ``run_id`` (never moved back to an older version), run logs by (pipeline, date,
schedule), reruns by ``rerun_id``, events and trait evaluations by (pipeline, stream id), alerts by
the change that carried them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Index, Integer, MetaData, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _archived_at() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class RunRow(Base):
    __tablename__ = "runs"

    run_id: Mapped[str] = mapped_column(Text, primary_key=True)
    pipeline_id: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    archived_at: Mapped[datetime] = _archived_at()

    __table_args__ = (
        Index("ix_runs_pipeline_created", "pipeline_id", "created_at"),
        Index("ix_runs_pipeline_status", "pipeline_id", "status"),
    )


class RunLogRow(Base):
    __tablename__ = "run_logs"

    pipeline_id: Mapped[str] = mapped_column(Text, primary_key=True)
    date: Mapped[str] = mapped_column(Text, primary_key=True)
    schedule_id: Mapped[str] = mapped_column(Text, primary_key=True, server_default=text("'daily'"))
    status: Mapped[str] = mapped_column(Text, nullable=False)
    attempt_number: Mapped[int] = mapped_column(Integer, nullable=False)
    run_id: Mapped[str] = mapped_column(Text, nullable=False)
    failure_message: Mapped[str | None] = mapped_column(Text)
    failure_category: Mapped[str | None] = mapped_column(Text)
    alert_sent: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    retry_history: Mapped[list[Any] | None] = mapped_column(JSONB)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    archived_at: Mapped[datetime] = _archived_at()

    __table_args__ = (Index("ix_run_logs_status", "status"), Index("ix_run_logs_date", "date"))


class RerunRow(Base):
    __tablename__ = "reruns"

    rerun_id: Mapped[str] = mapped_column(Text, primary_key=True)
    pipeline_id: Mapped[str] = mapped_column(Text, nullable=False)
    original_date: Mapped[str] = mapped_column(Text, nullable=False)
    original_run_id: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    rerun_run_id: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    archived_at: Mapped[datetime] = _archived_at()

    __table_args__ = (Index("ix_reruns_pipeline_status", "pipeline_id", "status"),)


class EventRow(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    pipeline_id: Mapped[str] = mapped_column(Text, nullable=False)
    stream_id: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    run_id: Mapped[str | None] = mapped_column(Text)
    trait_type: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    archived_at: Mapped[datetime] = _archived_at()

    __table_args__ = (
        Index("uq_events_pipeline_stream", "pipeline_id", "stream_id", unique=True),
        Index("ix_events_kind_timestamp", "kind", "timestamp"),
        Index("ix_events_pipeline_timestamp", "pipeline_id", "timestamp"),
    )


class TraitEvaluationRow(Base):
    __tablename__ = "trait_evaluations"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    pipeline_id: Mapped[str] = mapped_column(Text, nullable=False)
    stream_id: Mapped[str] = mapped_column(Text, nullable=False)
    trait_type: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    value: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    reason: Mapped[str | None] = mapped_column(Text)
    failure_category: Mapped[str | None] = mapped_column(Text)
    evaluated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    archived_at: Mapped[datetime] = _archived_at()

    __table_args__ = (
        Index("uq_trait_evaluations_pipeline_stream", "pipeline_id", "stream_id", unique=True),
        Index("ix_trait_evaluations_pipeline_type", "pipeline_id", "trait_type", "evaluated_at"),
    )


class AlertRow(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    change_id: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    alert_id: Mapped[str | None] = mapped_column(Text)
    level: Mapped[str] = mapped_column(Text, nullable=False)
    alert_type: Mapped[str | None] = mapped_column(Text)
    pipeline_id: Mapped[str | None] = mapped_column(Text)
    trait_type: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    archived_at: Mapped[datetime] = _archived_at()

    __table_args__ = (Index("ix_alerts_pipeline_timestamp", "pipeline_id", "timestamp"),)


class ArchiveCursorRow(Base):
    """How far into a store's change stream the archive has committed."""

    __tablename__ = "archive_cursors"

    stream: Mapped[str] = mapped_column(Text, primary_key=True)
    cursor_value: Mapped[str] = mapped_column(Text, nullable=False)
    records: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
