"""Queue ``schedule``: the reconcile pass Beat drives."""

from __future__ import annotations

from interlock.steps.reconcile import reconcile as reconcile_step
from workers.app import app
from workers.context import deps_for


@app.task(name="interlock.reconcile")
def reconcile() -> int:
    return reconcile_step(deps_for(app))
