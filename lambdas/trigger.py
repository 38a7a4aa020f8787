"""The trigger Lambda: claim the period and start the job — the trigger step, at most once per claim.

Request ``{"pipelineID", "scheduleID", "period", "attempt"}``; response: the run's summary
(``runID``, ``status`` RUNNING / COMPLETED / COMPLETED_MONITORING / FAILED, ``failureCategory``,
``waitSeconds`` until the first poll). A retried invocation (the Task's Retry after a Lambda
service error that hid a success) finds the claim taken and returns the recorded run instead of
starting the job again.
"""

from __future__ import annotations

from typing import Any

from interlock.steps.registry import run_step
from interlock.steps.requests import TriggerRequest
from lambdas.runtime import COMMON_ENV, runtime, traced
from lambdas.shapes import run_summary, step_request

ENV: tuple[str, ...] = COMMON_ENV


def handler(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    deps = runtime().deps
    request = step_request(TriggerRequest, {"attempt": 1, **event}, deps, pipeline="pipelineID",
                           schedule="scheduleID", period="period", attempt="attempt")
    with traced("interlock.aws.trigger", event, pipeline=request.pipeline, schedule=request.schedule,
                period=request.period):
        run = run_step(deps, "trigger", **request.model_dump())
        return run_summary(deps, run)
