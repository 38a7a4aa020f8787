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
from lambdas.runtime import COMMON_ENV, runtime

ENV: tuple[str, ...] = COMMON_ENV


def handler(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    deps = runtime().deps
    evaluation = evaluate_trait(deps, str(event["pipelineID"]), str(event["traitType"]),
                                str(event["scheduleID"]), str(event["period"]))
    return evaluation.to_json()
