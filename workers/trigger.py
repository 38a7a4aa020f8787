"""Queue ``trigger``: claim the period and start the job (at most once per claim)."""

from __future__ import annotations

from interlock.metrics import timed
from interlock.steps.reruns import rerun as rerun_step
from interlock.steps.runs import trigger as trigger_step
from workers.app import app
from workers.context import deps_for


@app.task(name="interlock.trigger")
def trigger(pipeline: str, schedule: str, period: str, attempt: int) -> str:
    deps = deps_for(app)
    with timed(deps.store, "trigger"):
        return trigger_step(deps, pipeline, schedule, period, attempt).status.value


@app.task(name="interlock.rerun")
def rerun(rerun_id: str) -> str | None:
    deps = deps_for(app)
    with timed(deps.store, "rerun"):
        record = rerun_step(deps, rerun_id)
    return record.status.value if record else None
