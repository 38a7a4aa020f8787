"""Was this period already run? The question a claim asks after the store was reset.

An intact store keeps a period to one run by its claim and run log. A store that was wiped or
swapped has forgotten both, so after a detected reset (see :mod:`interlock.steps.epoch`) the
trigger step asks :func:`already_ran` before it claims a period, and a period that ran is restored
into the store instead of started again.

The sources are tried in order; each knows some runs:

* :class:`ArchiveHistory` — the Postgres archive's copy of the run logs (when ``archiver.dsn`` /
  ``$INTERLOCK_DATABASE_URL`` is set). It knows what the archiver had copied before the reset,
  so a run that started less than an archive interval before it may be missed.
* asking the trigger target itself (an Airflow dag run by its ``dag_run_id``, a Step Functions
  execution by name, ...) is the trigger-recovery work of another issue: it plugs in here as one
  more :class:`RunHistory`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from interlock.model import Event, EventKind, RunLogEntry, RunState
from interlock.periods import RunKey

if TYPE_CHECKING:
    from interlock.config import Project
    from interlock.steps.deps import Deps

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PriorRun:
    """A run of the period that some source remembers: its run log, the run when known, and who said so."""

    entry: RunLogEntry
    run: RunState | None
    source: str


class PriorRunUnknown(RuntimeError):
    """A source that should know could not be asked (the archive is down): the period is not claimed yet."""


class RunHistory(Protocol):
    name: str

    def find(self, pipeline: str, schedule: str, period: str) -> PriorRun | None:
        """The period's latest run this source knows of, or None; raises when it cannot be asked."""
        ...


class ArchiveHistory:
    """Run logs (and runs) the archiver copied to Postgres; the engine is made on first use."""

    name = "archive"

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Any = None

    @property
    def engine(self) -> Any:
        if self._engine is None:
            from interlock.archive.db import make_engine  # SQLAlchemy only where an archive is configured

            self._engine = make_engine(self.url)
        return self._engine

    def find(self, pipeline: str, schedule: str, period: str) -> PriorRun | None:
        from interlock.archive import queries

        entry = queries.run_log_of(self.engine, pipeline, period, schedule)
        if entry is None:
            return None
        return PriorRun(entry, queries.run_of(self.engine, entry.run_id), self.name)

    def has_history(self, stream: str) -> bool:
        """Whether the archiver ever committed changes of the store whose change stream is ``stream``."""
        from interlock.archive import queries

        return queries.has_archived(self.engine, stream)


def default_history(project: Project) -> list[RunHistory]:
    """The sources a deployment has: the archive when one is configured."""
    url = project.settings.database_url
    return [ArchiveHistory(url)] if url else []


def already_ran(deps: Deps, pipeline: str, schedule: str, period: str) -> PriorRun | None:
    """The first source's record of a run of (pipeline, schedule, period), or None when none knows one.

    Raises :class:`PriorRunUnknown` when a source cannot be asked: claiming then could start a
    period a second time, so the caller leaves it for the next look.
    """
    for source in deps.history:
        try:
            found = source.find(pipeline, schedule, period)
        except Exception as exc:
            raise PriorRunUnknown(f"cannot ask the {source.name} whether {pipeline}/{schedule}/{period} already "
                                  f"ran after the store reset: {exc}") from exc
        if found is not None:
            return found
    return None


def restore(deps: Deps, prior: PriorRun) -> RunState:
    """Put a period's known run back into the store instead of starting it again; return that run.

    The run takes its claim again (so later claims of that attempt lose to it), its run log is
    written back (so the advance step sees DONE, RUNNING or FAILED as before the reset), and an
    event says why nothing was triggered.
    """
    entry = prior.entry
    schedule, period = entry.schedule_id, entry.date
    run_key = RunKey(entry.pipeline_id, schedule, period, entry.attempt_number)
    run = prior.run or RunState(
        run_id=entry.run_id, pipeline_id=entry.pipeline_id, status=entry.status, version=1,
        created_at=entry.started_at, updated_at=entry.updated_at, metadata=run_key.metadata(),
        schedule_id=schedule, period=period, attempt=entry.attempt_number)
    owner, _ = deps.store.claim(run_key.claim_key, run)
    if deps.store.get_run_log(entry.pipeline_id, period, schedule) is None:
        deps.store.put_run_log(entry)
    deps.store.append_event(Event(
        kind=EventKind.RUN_RESTORED, pipeline_id=entry.pipeline_id, run_id=entry.run_id, status=entry.status.value,
        timestamp=deps.clock.now(),
        message=f"period {period} of schedule {schedule} already ran before the store reset ({prior.source}: run "
                f"{entry.run_id} {entry.status.value}); not triggered again, its record was restored",
        details={"scheduleId": schedule, "period": period, "attempt": entry.attempt_number,
                 "source": prior.source}))
    log.warning("%s/%s/%s already ran before the store reset (%s: %s %s): not triggered again",
                entry.pipeline_id, schedule, period, prior.source, entry.run_id, entry.status.value)
    return owner
