"""Queue ``evaluation``: advance a (pipeline, schedule) — evaluate and, if READY, ask for the trigger."""

from __future__ import annotations

from celery.signals import worker_ready

from interlock.metrics import timed
from interlock.steps.advance import advance as advance_step
from workers.app import app
from workers.context import deps_for, start_up_in_background


@app.task(name="interlock.advance")
def advance(pipeline: str, schedule: str) -> str:
    deps = deps_for(app)
    with timed(deps.store, "advance"):
        return advance_step(deps, pipeline, schedule).value


@worker_ready.connect
def _register_pipelines(**_: object) -> None:
    start_up_in_background(app)
