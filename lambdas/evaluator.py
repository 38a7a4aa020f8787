"""The evaluator Lambda: one trait of one pipeline, for one iteration of the state machine's Map.

Request ``{"pipelineID", "scheduleID", "period", "traitType"}`` (an item CheckRunLog listed);
response: the trait's evaluation as stored (``traitType``, ``status``, ``value``, ``reason``,
``failureCategory`` ...), which CheckReadiness turns into the verdict. Evaluator problems are
ERROR results, not exceptions (the evaluate step's rule); an unknown pipeline or trait raises,
which the Map's Catch turns into an alert.
"""

from __future__ import annotations

from typing import Any

from interlock.steps.evaluate import evaluate_trait
from interlock.steps.requests import EvaluateTraitRequest
from lambdas.runtime import COMMON_ENV, runtime
from lambdas.shapes import step_request

ENV: tuple[str, ...] = COMMON_ENV


def handler(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    deps = runtime().deps
    request = step_request(EvaluateTraitRequest, event, deps, pipeline="pipelineID", schedule="scheduleID",
                           period="period", trait="traitType")
    evaluation = evaluate_trait(deps, request.pipeline, request.trait, request.schedule, request.period)
    return evaluation.to_json()
