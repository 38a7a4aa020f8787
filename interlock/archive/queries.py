"""History questions answered from the archive (beyond the store's retention)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from interlock.archive.models import AlertRow, ArchiveCursorRow, EventRow, RunLogRow, RunRow
from interlock.model import (
    Alert,
    AlertLevel,
    Event,
    EventKind,
    FailureCategory,
    RetryAttempt,
    RunLogEntry,
    RunState,
    RunStatus,
)

# Rows a history query returns at most unless asked for fewer.
MAX_ROWS = 10_000


def change_stream_name(key_prefix: str) -> str:
    """The archive cursor's name for the change stream of the store under ``key_prefix``."""
    return f"{key_prefix}changes"


def has_archived(engine: Engine, stream: str) -> bool:
    """Whether the archive has committed any change of ``stream`` (the store had a history)."""
    with Session(engine) as session:
        cursor = session.scalar(select(ArchiveCursorRow.cursor_value).where(ArchiveCursorRow.stream == stream))
    return bool(cursor)


def run_log_of(engine: Engine, pipeline: str, period: str, schedule: str) -> RunLogEntry | None:
    """The archived run log of one (pipeline, schedule, period), or None."""
    with Session(engine) as session:
        row = session.get(RunLogRow, (pipeline, period, schedule))
        if row is None:
            return None
        return RunLogEntry(
            pipeline_id=row.pipeline_id, date=row.date, schedule_id=row.schedule_id, status=RunStatus(row.status),
            attempt_number=row.attempt_number, run_id=row.run_id, failure_message=row.failure_message,
            failure_category=FailureCategory(row.failure_category) if row.failure_category else None,
            alert_sent=row.alert_sent, started_at=row.started_at, completed_at=row.completed_at,
            updated_at=row.updated_at,
            retry_history=[RetryAttempt.model_validate(a) for a in row.retry_history] if row.retry_history else None)


def run_of(engine: Engine, run_id: str) -> RunState | None:
    """The archived run ``run_id`` (its newest archived version), or None."""
    with Session(engine) as session:
        r = session.get(RunRow, run_id)
        if r is None:
            return None
        return RunState(run_id=r.run_id, pipeline_id=r.pipeline_id, status=RunStatus(r.status), version=r.version,
                        created_at=r.created_at, updated_at=r.updated_at, metadata=r.metadata_ or {})


def runs_between(engine: Engine, pipeline: str, start: datetime, end: datetime, limit: int = MAX_ROWS
                 ) -> list[RunState]:
    """Runs of ``pipeline`` created in ``[start, end)``, oldest first."""
    query = (select(RunRow).where(RunRow.pipeline_id == pipeline, RunRow.created_at >= start,
                                  RunRow.created_at < end).order_by(RunRow.created_at, RunRow.run_id).limit(limit))
    with Session(engine) as session:
        return [RunState(run_id=r.run_id, pipeline_id=r.pipeline_id, status=RunStatus(r.status), version=r.version,
                         created_at=r.created_at, updated_at=r.updated_at, metadata=r.metadata_ or {})
                for r in session.scalars(query)]


def events_by_kind(engine: Engine, kind: EventKind, since: datetime, until: datetime,
                   pipeline: str | None = None, limit: int = MAX_ROWS) -> list[Event]:
    """Events of ``kind`` with a timestamp in ``[since, until)``, oldest first."""
    query = select(EventRow).where(EventRow.kind == kind.value, EventRow.timestamp >= since,
                                   EventRow.timestamp < until)
    if pipeline is not None:
        query = query.where(EventRow.pipeline_id == pipeline)
    query = query.order_by(EventRow.timestamp, EventRow.id).limit(limit)
    with Session(engine) as session:
        return [Event(kind=EventKind(r.kind), pipeline_id=r.pipeline_id, run_id=r.run_id, trait_type=r.trait_type,
                      status=r.status, message=r.message, details=r.details, timestamp=r.timestamp)
                for r in session.scalars(query)]


def period_events(engine: Engine, pipeline: str, period: str, run_ids: list[str], limit: int = MAX_ROWS
                  ) -> list[Event]:
    """Archived events of one period of ``pipeline``: tagged with the period or naming one of its runs.

    Oldest first. The schedule is not filtered here: the caller (interlock.explain) applies the same
    filter to archived and stored events, so both paths decide alike.
    """
    tagged = EventRow.details["period"].astext == period
    query = select(EventRow).where(EventRow.pipeline_id == pipeline,
                                   or_(tagged, EventRow.run_id.in_(run_ids)) if run_ids else tagged)
    query = query.order_by(EventRow.timestamp, EventRow.id).limit(limit)
    with Session(engine) as session:
        return [Event(kind=EventKind(r.kind), pipeline_id=r.pipeline_id, run_id=r.run_id, trait_type=r.trait_type,
                      status=r.status, message=r.message, details=r.details, timestamp=r.timestamp)
                for r in session.scalars(query)]


def period_alerts(engine: Engine, pipeline: str, period: str, limit: int = MAX_ROWS) -> list[Alert]:
    """Archived alerts of ``pipeline`` tagged with ``period``, oldest first."""
    query = (select(AlertRow).where(AlertRow.pipeline_id == pipeline, AlertRow.details["period"].astext == period)
             .order_by(AlertRow.timestamp, AlertRow.id).limit(limit))
    with Session(engine) as session:
        return [Alert(alert_id=r.alert_id, level=AlertLevel(r.level), alert_type=r.alert_type,
                      pipeline_id=r.pipeline_id, trait_type=r.trait_type, message=r.message, details=r.details,
                      timestamp=r.timestamp) for r in session.scalars(query)]
