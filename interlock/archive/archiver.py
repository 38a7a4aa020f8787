"""The archiver: copy the store's change stream into Postgres, every record exactly once.

Each batch is one Postgres transaction that applies the changes *and* moves the cursor, so a crash
(even SIGKILL mid-batch) leaves either both or neither; the next run resumes from the committed
cursor and replays nothing twice. Upserts are idempotent anyway: a run is never moved back to an
older version, events and trait evaluations are keyed by their stream id, alerts by their change.
The cursor row is locked for the batch, so two archivers never apply the same changes at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from psycopg2.extras import Json, execute_values
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.dialects.postgresql import insert

from interlock.archive.models import ArchiveCursorRow
from interlock.model import Alert, Event, EventKind, RerunRecord, RunLogEntry, RunState
from interlock.store.base import Change, ChangeKind, Store

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

# Changes applied per transaction: large enough to amortise the round trips, small enough that a
# batch commits in well under a second.
DEFAULT_BATCH_SIZE = 500


@dataclass(frozen=True)
class _Upsert:
    table: str
    columns: tuple[str, ...]
    conflict: str

    @property
    def sql(self) -> str:
        return f"INSERT INTO {self.table} ({', '.join(self.columns)}) VALUES %s {self.conflict}"


@dataclass
class ArchiveResult:
    batches: int = 0
    records: int = 0
    cursor: str = ""


class Archiver:
    """Drains a store's change stream into the archive database."""

    def __init__(self, store: Store, engine: Engine, stream: str, *, batch_size: int = DEFAULT_BATCH_SIZE,
                 throttle: float = 0.0) -> None:
        """``stream`` names the cursor (one per store/prefix); ``throttle`` pauses between batches (s)."""
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.store = store
        self.engine = engine
        self.stream = stream
        self.batch_size = batch_size
        self.throttle = throttle

    def cursor(self) -> str:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(ArchiveCursorRow.cursor_value).where(ArchiveCursorRow.stream == self.stream)
            ).scalar()
        return value or ""

    def run_once(self, progress: Callable[[ArchiveResult], None] | None = None,
                 max_batches: int | None = None) -> ArchiveResult:
        """Archive until the change stream is drained (or ``max_batches``); return what was done."""
        result = ArchiveResult(cursor=self.cursor())
        while max_batches is None or result.batches < max_batches:
            applied, cursor = self.archive_batch()
            if not applied:
                break
            result.batches += 1
            result.records += applied
            result.cursor = cursor
            if progress:
                progress(result)
            if self.throttle:
                time.sleep(self.throttle)
        return result

    def archive_batch(self) -> tuple[int, str]:
        """Apply the next batch in one transaction; return (changes applied, new cursor)."""
        with self.engine.begin() as conn:
            conn.execute(insert(ArchiveCursorRow).values(stream=self.stream, cursor_value="")
                         .on_conflict_do_nothing(index_elements=["stream"]))
            cursor = conn.execute(
                select(ArchiveCursorRow.cursor_value).where(ArchiveCursorRow.stream == self.stream).with_for_update()
            ).scalar_one()
            changes = self.store.read_changes(cursor, self.batch_size)
            if not changes:
                return 0, cursor
            apply_changes(conn, changes)
            last = changes[-1].resume_from
            conn.execute(
                text("UPDATE archive_cursors SET cursor_value = :c, records = records + :n, updated_at = now() "
                     "WHERE stream = :s"),
                {"c": last, "n": len(changes), "s": self.stream},
            )
        # Committed: the store may forget these changes now. A crash before this line only means
        # they are trimmed on the next batch instead.
        self.store.trim_changes(last)
        return len(changes), last


def apply_changes(conn: Connection, changes: Iterable[Change]) -> None:
    """Upsert a batch of changes; replaying a batch changes nothing."""
    runs: dict[str, dict[str, Any]] = {}
    run_logs: dict[tuple[str, str, str], dict[str, Any]] = {}
    reruns: dict[str, dict[str, Any]] = {}
    events: list[dict[str, Any]] = []
    traits: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    for change in changes:
        if change.kind is ChangeKind.RUN and (r := _parse(change, RunState)):
            previous = runs.get(r.run_id)
            if previous is None or previous["version"] <= r.version:
                runs[r.run_id] = {"run_id": r.run_id, "pipeline_id": r.pipeline_id, "status": r.status.value,
                                  "version": r.version, "metadata": r.metadata or None,
                                  "created_at": r.created_at, "updated_at": r.updated_at}
        elif change.kind is ChangeKind.RUN_LOG and (e := _parse(change, RunLogEntry)):
            run_logs[(e.pipeline_id, e.date, e.schedule_id)] = {
                "pipeline_id": e.pipeline_id, "date": e.date, "schedule_id": e.schedule_id or "daily",
                "status": e.status.value, "attempt_number": e.attempt_number, "run_id": e.run_id,
                "failure_message": e.failure_message,
                "failure_category": e.failure_category.value if e.failure_category else None,
                "alert_sent": e.alert_sent,
                "retry_history": [a.to_json() for a in e.retry_history] if e.retry_history else None,
                "started_at": e.started_at, "completed_at": e.completed_at, "updated_at": e.updated_at}
        elif change.kind is ChangeKind.RERUN and (rr := _parse(change, RerunRecord)):
            reruns[rr.rerun_id] = {
                "rerun_id": rr.rerun_id, "pipeline_id": rr.pipeline_id, "original_date": rr.original_date,
                "original_run_id": rr.original_run_id, "reason": rr.reason, "description": rr.description,
                "status": rr.status.value, "rerun_run_id": rr.rerun_run_id, "metadata": rr.metadata,
                "requested_at": rr.requested_at, "completed_at": rr.completed_at}
        elif change.kind is ChangeKind.EVENT and (ev := _parse(change, Event)):
            stream_id = change.ref or change.id
            events.append({"pipeline_id": ev.pipeline_id, "stream_id": stream_id, "kind": ev.kind.value,
                           "run_id": ev.run_id, "trait_type": ev.trait_type, "status": ev.status,
                           "message": ev.message, "details": ev.details, "timestamp": ev.timestamp})
            if ev.kind is EventKind.TRAIT_EVALUATED and ev.trait_type:
                traits.append(_trait_row(ev, stream_id))
        elif change.kind is ChangeKind.ALERT and (a := _parse(change, Alert)):
            alerts.append({"change_id": change.id, "alert_id": a.alert_id, "level": a.level.value,
                           "alert_type": a.alert_type, "pipeline_id": a.pipeline_id, "trait_type": a.trait_type,
                           "message": a.message, "details": a.details, "timestamp": a.timestamp})
    _bulk(conn, RUNS_UPSERT, list(runs.values()))
    _bulk(conn, RUN_LOGS_UPSERT, list(run_logs.values()))
    _bulk(conn, RERUNS_UPSERT, list(reruns.values()))
    _bulk(conn, EVENTS_INSERT, events)
    _bulk(conn, TRAITS_INSERT, traits)
    _bulk(conn, ALERTS_INSERT, alerts)


# Hand-written SQL through psycopg2's execute_values: one multi-row statement per table and batch.
# (SQLAlchemy's executemany went row by row here, and compiling a 500-row VALUES costs more than
# running it.)
RUNS_UPSERT = _Upsert(
    "runs", ("run_id", "pipeline_id", "status", "version", "metadata", "created_at", "updated_at"),
    "ON CONFLICT (run_id) DO UPDATE SET status = EXCLUDED.status, version = EXCLUDED.version, "
    "metadata = EXCLUDED.metadata, updated_at = EXCLUDED.updated_at, archived_at = now() "
    # never move a run back to an older version
    "WHERE runs.version <= EXCLUDED.version",
)
RUN_LOGS_UPSERT = _Upsert(
    "run_logs", ("pipeline_id", "date", "schedule_id", "status", "attempt_number", "run_id", "failure_message",
                 "failure_category", "alert_sent", "retry_history", "started_at", "completed_at", "updated_at"),
    "ON CONFLICT (pipeline_id, date, schedule_id) DO UPDATE SET status = EXCLUDED.status, "
    "attempt_number = EXCLUDED.attempt_number, run_id = EXCLUDED.run_id, "
    "failure_message = EXCLUDED.failure_message, failure_category = EXCLUDED.failure_category, "
    "alert_sent = EXCLUDED.alert_sent, retry_history = EXCLUDED.retry_history, "
    "completed_at = EXCLUDED.completed_at, updated_at = EXCLUDED.updated_at, archived_at = now() "
    "WHERE run_logs.updated_at <= EXCLUDED.updated_at",
)
RERUNS_UPSERT = _Upsert(
    "reruns", ("rerun_id", "pipeline_id", "original_date", "original_run_id", "reason", "description", "status",
               "rerun_run_id", "metadata", "requested_at", "completed_at"),
    "ON CONFLICT (rerun_id) DO UPDATE SET status = EXCLUDED.status, rerun_run_id = EXCLUDED.rerun_run_id, "
    "metadata = EXCLUDED.metadata, completed_at = EXCLUDED.completed_at, archived_at = now()",
)
EVENTS_INSERT = _Upsert(
    "events", ("pipeline_id", "stream_id", "kind", "run_id", "trait_type", "status", "message", "details",
               "timestamp"),
    "ON CONFLICT (pipeline_id, stream_id) DO NOTHING",
)
TRAITS_INSERT = _Upsert(
    "trait_evaluations", ("pipeline_id", "stream_id", "trait_type", "status", "value", "reason", "failure_category",
                          "evaluated_at"),
    "ON CONFLICT (pipeline_id, stream_id) DO NOTHING",
)
ALERTS_INSERT = _Upsert(
    "alerts", ("change_id", "alert_id", "level", "alert_type", "pipeline_id", "trait_type", "message", "details",
               "timestamp"),
    "ON CONFLICT (change_id) DO NOTHING",
)


def _bulk(conn: Connection, statement: _Upsert, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    values = [tuple(Json(v) if isinstance(v, (dict, list)) else v for v in (row[c] for c in statement.columns))
              for row in rows]
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        execute_values(cursor, statement.sql, values, page_size=len(values))
    finally:
        cursor.close()


def _trait_row(ev: Event, stream_id: str) -> dict[str, Any]:
    details = ev.details or {}
    value = details.get("value")
    reason = details.get("reason", ev.message)
    category = details.get("failureCategory")
    return {"pipeline_id": ev.pipeline_id, "stream_id": stream_id, "trait_type": ev.trait_type,
            "status": ev.status or "", "value": value if isinstance(value, dict) else None,
            "reason": reason if isinstance(reason, str) else None,
            "failure_category": category if isinstance(category, str) else None, "evaluated_at": ev.timestamp}


def _parse(change: Change, model: type[M]) -> M | None:
    try:
        return model.model_validate(change.data)
    except ValidationError as exc:
        log.warning("archive: skipping unreadable %s change %s: %s", change.kind, change.id, exc.errors()[0]["msg"])
        return None
