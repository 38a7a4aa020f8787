"""History questions answered from the archive (beyond the store's retention)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from interlock.archive.models import EventRow, RunRow
from interlock.model import Event, EventKind, RunState, RunStatus

# Rows a history query returns at most unless asked for fewer.
MAX_ROWS = 10_000


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
