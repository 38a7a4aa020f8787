"""Queue ``schedule``: the reconcile pass Beat drives, SLA checks and the stuck-run watchdog."""

from __future__ import annotations

from interlock.metrics import timed
from interlock.steps.reconcile import reconcile as reconcile_step
from interlock.steps.sla import check_sla as check_sla_step
from interlock.steps.watchdog import check_stuck as check_stuck_step
from workers.app import app
from workers.context import deps_for


@app.task(name="interlock.reconcile")
def reconcile() -> int:
    deps = deps_for(app)
    with timed(deps.store, "reconcile"):
        return reconcile_step(deps)


@app.task(name="interlock.check_sla")
def check_sla(pipeline: str, schedule: str) -> int:
    deps = deps_for(app)
    with timed(deps.store, "check_sla"):
        return len(check_sla_step(deps, pipeline, schedule))


@app.task(name="interlock.check_stuck")
def check_stuck(run_id: str) -> bool:
    return check_stuck_step(deps_for(app), run_id) is not None
