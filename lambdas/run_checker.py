"""The run-checker Lambda: poll a running job once — the check_run step.

Request ``{"runID"}``; response: the run's summary after the poll (still RUNNING with
``waitSeconds`` until the next poll, or COMPLETED / COMPLETED_MONITORING / FAILED with its failure
category). Finishing a run (run log, cascade due entries, retry due time or the one give-up alert)
happens inside the step, exactly as on the Celery path.
"""

from __future__ import annotations

from typing import Any

from interlock.steps.registry import run_step
from interlock.steps.requests import RunRequest
from lambdas.runtime import COMMON_ENV, runtime, traced
from lambdas.shapes import run_summary, step_request

ENV: tuple[str, ...] = COMMON_ENV


def handler(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    deps = runtime().deps
    run_id = step_request(RunRequest, event, deps, run_id="runID").run_id
    with traced("interlock.aws.check_run", event, run_id=run_id):
        return run_summary(deps, run_step(deps, "check_run", run_id=run_id), run_id)
