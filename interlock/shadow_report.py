"""The shadow report: per pipeline and period, when Interlock would have triggered against when the
real job (still started by the old scheduler) actually started, and the periods it would have held.

Everything comes from the pipeline's event stream in the store (so at most the stream's length,
``redis.eventStreamMax``, and its retention, can be looked back over):

* would have triggered: the period's first ``WOULD_TRIGGER`` event (steps/shadow.py);
* actually started: the first PASS pushed, in that period, to the trait the pipeline names as
  ``dryRunStartTrait`` (the old scheduler's job pushes it when it starts:
  ``interlock push orders job-started PASS``). A push is placed in the period its instant falls in,
  for each of the pipeline's schedules. Without ``dryRunStartTrait`` the column stays empty;
* held back: a period that was evaluated but never reached ``WOULD_TRIGGER``; the blocking traits
  are those of the period's last ``READINESS_CHECKED`` verdict.

``difference`` is actual minus would-have, in seconds: positive when Interlock would have started
the job earlier than it really started, negative when later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from interlock.model import EventKind, PipelineConfig, TraitStatus
from interlock.periods import period_at
from interlock.store.base import Store


@dataclass
class PeriodRow:
    pipeline: str
    schedule: str
    period: str
    would_trigger_at: datetime | None = None
    actual_start_at: datetime | None = None
    evaluated: bool = False
    blocking: list[str] = field(default_factory=list)

    @property
    def held_back(self) -> bool:
        """Evaluated in the period, and never READY: Interlock would not have started the job."""
        return self.would_trigger_at is None and self.evaluated

    @property
    def difference(self) -> timedelta | None:
        if self.would_trigger_at is None or self.actual_start_at is None:
            return None
        return self.actual_start_at - self.would_trigger_at

    def verdict(self) -> str:
        if self.held_back:
            ran = "; the real job ran anyway" if self.actual_start_at else ""
            return f"held back (blocking: {', '.join(self.blocking) or 'unknown'}){ran}"
        if self.would_trigger_at is None:
            return "not evaluated"
        diff = self.difference
        if diff is None:
            return "would trigger; no real start recorded"
        return f"would trigger {_span(diff)} {'earlier' if diff >= timedelta(0) else 'later'}"

    def to_json(self) -> dict[str, Any]:
        diff = self.difference
        return {"pipeline": self.pipeline, "schedule": self.schedule, "period": self.period,
                "wouldTriggerAt": _iso(self.would_trigger_at), "actualStartAt": _iso(self.actual_start_at),
                "differenceSeconds": diff.total_seconds() if diff is not None else None,
                "heldBack": self.held_back, "blocking": self.blocking if self.held_back else [],
                "verdict": self.verdict()}


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def _span(diff: timedelta) -> str:
    seconds = int(abs(diff.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def report(store: Store, pipelines: list[PipelineConfig], shadow_now: set[str], since: datetime,
           events_max: int) -> list[PeriodRow]:
    """The rows for ``pipelines`` from ``since`` on, by pipeline, schedule and period (oldest first).

    A pipeline is reported while it is in shadow (``shadow_now``) and, once live, while the window
    still holds one of its ``WOULD_TRIGGER`` events; a pipeline that never ran in shadow is left out.
    """
    rows: list[PeriodRow] = []
    for config in pipelines:
        found: dict[tuple[str, str], PeriodRow] = {}

        def row(schedule: str, period: str, name: str = config.name,
                found: dict[tuple[str, str], PeriodRow] = found) -> PeriodRow:
            return found.setdefault((schedule, period), PeriodRow(name, schedule, period))

        for record in store.list_events(config.name, events_max):
            event = record.event
            if event.timestamp < since:
                continue
            details = event.details or {}
            schedule, period = str(details.get("scheduleId", "")), str(details.get("period", ""))
            if event.kind is EventKind.WOULD_TRIGGER and schedule and period:
                r = row(schedule, period)
                if r.would_trigger_at is None or event.timestamp < r.would_trigger_at:
                    r.would_trigger_at = event.timestamp
            elif event.kind is EventKind.READINESS_CHECKED and schedule and period:
                r = row(schedule, period)
                r.evaluated = True
                r.blocking = [str(b) for b in details.get("blocking") or []]
            elif (event.kind is EventKind.TRAIT_PUSHED and config.dry_run_start_trait
                  and event.trait_type == config.dry_run_start_trait and event.status == TraitStatus.PASS.value):
                for sched in config.schedule_list():
                    r = row(sched.name, period_at(config, sched, event.timestamp).key)
                    if r.actual_start_at is None or event.timestamp < r.actual_start_at:
                        r.actual_start_at = event.timestamp
        if config.name in shadow_now or any(r.would_trigger_at for r in found.values()):
            rows += sorted(found.values(), key=lambda r: (r.schedule, r.period))
    return rows
