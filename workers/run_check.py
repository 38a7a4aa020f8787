"""Queue ``run_check``: poll running jobs, take completion callbacks, watch monitoring windows."""

from __future__ import annotations

from typing import Any

from interlock.errors import InvalidTransition, UnknownRun
from interlock.metrics import timed
from interlock.steps.monitor import monitor as monitor_step
from interlock.steps.runs import check_run as check_run_step
from interlock.steps.runs import complete_run as complete_run_step
from workers.app import app
from workers.context import deps_for


@app.task(name="interlock.check_run")
def check_run(run_id: str) -> str | None:
    deps = deps_for(app)
    with timed(deps.store, "check_run"):
        run = check_run_step(deps, run_id)
    return run.status.value if run else None


@app.task(name="interlock.complete_run")
def complete_run(run_id: str, success: bool, metadata: dict[str, Any] | None = None,
                 message: str | None = None) -> str | None:
    try:
        return complete_run_step(deps_for(app), run_id, success, metadata, message).status.value
    except (UnknownRun, InvalidTransition):
        return None  # already finished (a duplicate callback) or unknown: nothing to do


@app.task(name="interlock.monitor")
def monitor(run_id: str) -> str | None:
    deps = deps_for(app)
    with timed(deps.store, "monitor"):
        run = monitor_step(deps, run_id)
    return run.status.value if run else None
