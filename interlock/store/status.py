"""Each pipeline's operator state, kept as an index so the status views never read every pipeline.

A pipeline's state is the worst over its schedules (:data:`STATES`, worst first) of the state of
the latest period each schedule was seen in: the run log's status once a run exists for that
period (failed, running, completed), else the last readiness verdict (blocked, or waiting when
nothing blocks). A new period replaces the old one when its first readiness or run log is written,
so until a pipeline is evaluated in the new period it shows the last one's state.

The row is derived here, once, from the record being written: every store calls
:func:`after_run_log` from ``put_run_log``, :func:`after_readiness` from ``put_readiness`` and
:func:`after_register` from ``register_pipeline``, and indexes the row it returns (``None``: nothing
changed, nothing to write). Only registered pipelines have a row. ``since`` is when the pipeline
entered its state: the views sort the attention list by it (blocked longest, stuck runs).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

from interlock.model import (
    ACTIVE_RUN_STATUSES,
    DEFAULT_SCHEDULE,
    SUCCEEDED_RUN_STATUSES,
    PipelineConfig,
    ReadinessResult,
    RunLogEntry,
    RunStatus,
)

log = logging.getLogger(__name__)

# Worst first: a pipeline whose schedules disagree takes the first of these any of them has.
STATES: tuple[str, ...] = ("failed", "running", "blocked", "completed", "waiting")
# The states a schedule has once a run exists for its period (a readiness verdict no longer changes them).
RUN_STATES = frozenset({"failed", "running", "completed"})


def run_state(status: RunStatus) -> str:
    if status in ACTIVE_RUN_STATUSES:
        return "running"
    if status in SUCCEEDED_RUN_STATUSES:
        return "completed"
    return "failed"  # FAILED, CANCELLED


@dataclass(frozen=True)
class ScheduleState:
    period: str
    state: str


@dataclass(frozen=True)
class PipelineStatus:
    """One row of the index. ``since`` is None only for a pipeline registered before the index existed."""

    name: str
    state: str
    since: datetime | None
    schedules: dict[str, ScheduleState] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "state": self.state, "since": self.since.isoformat() if self.since else None,
                "schedules": {s: {"period": v.period, "state": v.state} for s, v in sorted(self.schedules.items())}}

    def dump(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"))

    @classmethod
    def load(cls, where: str, name: str, raw: str | None) -> PipelineStatus | None:
        """The row stored as ``raw``; a corrupt one is logged and read as missing (the next write replaces it)."""
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
            state = doc["state"]
            if state not in STATES:
                raise ValueError(f"unknown state {state!r}")
            since = datetime.fromisoformat(doc["since"]) if doc.get("since") else None
            schedules = {str(s): ScheduleState(str(v["period"]), str(v["state"]))
                         for s, v in dict(doc.get("schedules") or {}).items()}
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("store: skipping corrupt pipeline status at %s: %s", where, exc)
            return None
        return cls(name, state, since, schedules)

    @classmethod
    def unindexed(cls, name: str) -> PipelineStatus:
        """A registered pipeline with no row yet (registered before the index existed): waiting."""
        return cls(name, "waiting", None)


def _combine(old: PipelineStatus | None, name: str, schedules: dict[str, ScheduleState],
             now: datetime) -> PipelineStatus | None:
    present = {s.state for s in schedules.values()}
    state = next((s for s in STATES if s in present), "waiting")
    since = old.since if old is not None and old.state == state and old.since is not None else now
    new = PipelineStatus(name, state, since, schedules)
    return None if new == old else new


def after_run_log(old: PipelineStatus | None, entry: RunLogEntry, now: datetime) -> PipelineStatus | None:
    """The row once ``entry`` is written; None when it does not change (an older period's log, same state)."""
    schedule = entry.schedule_id or DEFAULT_SCHEDULE
    current = old.schedules.get(schedule) if old else None
    if current is not None and current.period > entry.date:
        return None  # a rerun or a late update of an older period: the current one decides
    schedules = {**(old.schedules if old else {}), schedule: ScheduleState(entry.date, run_state(entry.status))}
    return _combine(old, entry.pipeline_id, schedules, now)


def after_readiness(old: PipelineStatus | None, result: ReadinessResult, now: datetime) -> PipelineStatus | None:
    """The row once ``result`` is written; a verdict does not change a period that already has a run."""
    schedule = result.schedule_id or DEFAULT_SCHEDULE
    current = old.schedules.get(schedule) if old else None
    period = result.period or (current.period if current else "")
    if current is not None and (current.period > period or (current.period == period
                                                             and current.state in RUN_STATES)):
        return None
    state = "blocked" if result.blocking else "waiting"
    schedules = {**(old.schedules if old else {}), schedule: ScheduleState(period, state)}
    return _combine(old, result.pipeline_id, schedules, now)


def after_register(old: PipelineStatus | None, config: PipelineConfig, now: datetime) -> PipelineStatus | None:
    """A new pipeline starts waiting; a re-registered one forgets the schedules it no longer has."""
    names = {s.name for s in config.schedule_list()}
    schedules = {s: v for s, v in (old.schedules if old else {}).items() if s in names}
    if old is not None and old.since is not None and schedules == old.schedules:
        return None
    return _combine(old, config.name, schedules, now)


def check_states(states: list[str]) -> list[str]:
    """The states of ``states`` that are not states (empty when all are)."""
    return [s for s in states if s not in STATES]
