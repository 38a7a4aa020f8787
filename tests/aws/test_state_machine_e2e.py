"""The lifecycle state machine run end to end by moto's Step Functions interpreter, with the
project's own handlers: a pushed marker reaches the stream-router and the run completes."""

from __future__ import annotations

from interlock.model import RunStatus, TraitStatus
from interlock.steps.push import push_trait
from lambdas import stream_router
from tests.aws.conftest import Aws


def _period(aws: Aws) -> str:
    from interlock.schedule import find_schedule, period_of

    config = aws.deps.pipeline("orders")
    return period_of(config, find_schedule(config, "daily"), aws.clock.now())


def test_pushed_marker_runs_the_pipeline_to_completed_through_the_state_machine(aws_env: Aws) -> None:
    aws_env.stream_records()  # registration writes: not routed
    push_trait(aws_env.deps, "orders", "upstream-dependency", TraitStatus.PASS)

    response = stream_router.handler({"Records": aws_env.stream_records()}, None)

    assert response == {"batchItemFailures": []}
    [execution] = aws_env.executions()
    described = aws_env.finish(execution["executionArn"])
    assert described["status"] == "SUCCEEDED", described
    entry = aws_env.store.get_run_log("orders", _period(aws_env), "daily")
    assert entry is not None and entry.status is RunStatus.COMPLETED and entry.attempt_number == 1
    assert (aws_env.root / "ran-orders").exists()
    states = aws_env.states_entered(execution["executionArn"])
    assert {"AcquireLock", "CheckRunLog", "EvaluateTraits", "CheckReadiness", "TriggerPipeline",
            "CheckCompletionSLA", "NotifyDownstream", "ReleaseLock"} <= set(states)
    assert aws_env.store.acquire_lock("execution:orders:daily", 60) is not None  # released
