"""Schedules and periods: which (schedule, period) an instant belongs to, in the right time zone.

A period is the business date ``YYYY-MM-DD`` of ``now`` in the schedule's time zone, falling back to
the pipeline's SLA time zone, then UTC (spec C §3.5) — never the host's zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from interlock import timeutil
from interlock.model import PipelineConfig, ScheduleConfig


class UnknownSchedule(KeyError):
    def __init__(self, pipeline: str, schedule: str, known: list[str]) -> None:
        super().__init__(f"pipeline {pipeline!r} has no schedule {schedule!r} (it has: {', '.join(known)})")

    def __str__(self) -> str:
        return str(self.args[0])


def find_schedule(pipeline: PipelineConfig, name: str | None) -> ScheduleConfig:
    """The named schedule, or the pipeline's first one when ``name`` is None."""
    schedules = pipeline.schedule_list()
    if name is None:
        return schedules[0]
    for schedule in schedules:
        if schedule.name == name:
            return schedule
    raise UnknownSchedule(pipeline.name, name, [s.name for s in schedules])


def schedule_zone(pipeline: PipelineConfig, schedule: ScheduleConfig) -> tzinfo:
    name = schedule.timezone or (pipeline.sla.timezone if pipeline.sla else None)
    return timeutil.zone(name) if name else UTC


def period_of(pipeline: PipelineConfig, schedule: ScheduleConfig, now: datetime) -> str:
    """The business date ``now`` falls on for this schedule."""
    return now.astimezone(schedule_zone(pipeline, schedule)).date().isoformat()
