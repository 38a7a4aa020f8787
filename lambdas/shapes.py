"""The small JSON documents handlers return to the state machine (capital-D keys, as in the ASL)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from interlock.errors import UnknownPipeline
from interlock.model import RunState
from interlock.periods import RunKey
from interlock.steps.deps import Deps
from interlock.steps.requests import Request, validate

# The shortest wait a handler asks the state machine for (s): Wait states take whole seconds.
MIN_WAIT_SECONDS = 1


def wait_seconds(delta: timedelta) -> int:
    """A Wait state's ``SecondsPath`` value: whole seconds, at least one."""
    return max(MIN_WAIT_SECONDS, math.ceil(delta.total_seconds()))


def until(now: datetime, at: datetime | None, fallback: timedelta) -> int:
    return wait_seconds(at - now if at is not None else fallback)


def step_request(model: type[Request], event: dict[str, Any], deps: Deps, **keys: str) -> Request:
    """The event's fields (``field="eventKey"``) as the step's request, checked as a worker checks a message.

    Raises :class:`~interlock.errors.InvalidStepRequest` (the handler fails; the state
    machine's Catch reports it) before the step does anything.
    """
    data = {field: event[key] for field, key in keys.items() if key in event}
    request = validate(model, (), data, model.step)
    request.check(deps)
    return request


def run_summary(deps: Deps, run: RunState | None, run_id: str = "") -> dict[str, Any]:
    """What the state machine needs of a run: its status, attempt, why it failed, when to poll."""
    if run is None:
        return {"runID": run_id, "status": "UNKNOWN", "waitSeconds": MIN_WAIT_SECONDS}
    run_key = RunKey.of_run(run)
    summary: dict[str, Any] = {"runID": run.run_id, "pipelineID": run.pipeline_id, "scheduleID": run_key.schedule,
                               "period": run_key.period, "attempt": run_key.attempt, "status": run.status.value}
    entry = deps.store.get_run_log(*run_key.run_log_key)
    if entry is not None and entry.run_id == run.run_id:
        if entry.failure_category is not None:
            summary["failureCategory"] = entry.failure_category.value
        if entry.failure_message:
            summary["message"] = entry.failure_message
    try:
        summary["waitSeconds"] = wait_seconds(deps.poll_interval(deps.pipeline(run.pipeline_id)))
    except UnknownPipeline:
        summary["waitSeconds"] = MIN_WAIT_SECONDS
    return summary
