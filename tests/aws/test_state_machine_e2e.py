"""The lifecycle state machine run end to end by moto's Step Functions interpreter with the
project's own handlers (the reference's AWS scenarios, with their intended outcomes)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from interlock.model import FailureCategory, RunStatus, TraitStatus
from interlock.schedule import find_schedule, period_of
from interlock.steps.push import push_trait
from lambdas import orchestrator, stream_router
from tests.aws.conftest import Aws, boto3_client, write_orders


def _period(aws: Aws) -> str:
    config = aws.deps.pipeline("orders")
    return period_of(config, find_schedule(config, "daily"), aws.clock.now())


def _push_and_route(aws: Aws, status: TraitStatus = TraitStatus.PASS) -> dict[str, Any]:
    aws.stream_records()  # what was written before (registration, events) is not routed
    push_trait(aws.deps, "orders", "upstream-dependency", status)
    response: dict[str, Any] = stream_router.handler({"Records": aws.stream_records()}, None)
    return response


def _lock_is_free(aws: Aws) -> bool:
    lock = aws.store.acquire_lock("execution:orders:daily", 60)
    if lock is None:
        return False
    aws.store.release_lock(lock)
    return True


def test_pushed_marker_runs_the_pipeline_to_completed_through_the_state_machine(aws_env: Aws) -> None:
    response = _push_and_route(aws_env)

    assert response == {"batchItemFailures": []}
    [execution] = aws_env.executions()
    assert execution["name"].startswith("orders_daily_push-upstream-dependency_")
    described = aws_env.finish(execution["executionArn"])
    assert described["status"] == "SUCCEEDED", described
    entry = aws_env.store.get_run_log("orders", _period(aws_env), "daily")
    assert entry is not None and entry.status is RunStatus.COMPLETED and entry.attempt_number == 1
    assert (aws_env.root / "ran-orders").exists()
    states = aws_env.states_entered(execution["executionArn"])
    assert {"AcquireLock", "CheckRunLog", "EvaluateTraits", "EvaluateTrait", "CheckEvaluationSLA", "CheckReadiness",
            "TriggerPipeline", "CheckCompletionSLA", "NotifyDownstream", "ReleaseLock", "Done"} <= set(states)
    assert _lock_is_free(aws_env)


def test_redelivered_stream_record_starts_no_second_execution(aws_env: Aws) -> None:
    aws_env.stream_records()
    push_trait(aws_env.deps, "orders", "upstream-dependency", TraitStatus.PASS)
    records = aws_env.stream_records()

    first = stream_router.handler({"Records": records}, None)
    aws_env.finish(aws_env.executions()[0]["executionArn"])
    again = stream_router.handler({"Records": records}, None)  # Lambda retried the whole batch

    assert first == again == {"batchItemFailures": []}
    assert len(aws_env.executions()) == 1


def test_not_ready_then_ready_within_one_execution(aws_env: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    """No marker yet: the readiness loop waits; the marker arrives during a wait; the run completes."""
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    seen: list[int] = []

    def wait_then_push(self: Any, env: Any, wait_seconds: int) -> None:
        seen.append(wait_seconds)
        aws_env.clock.advance(timedelta(seconds=wait_seconds))
        if len(seen) == 2:
            push_trait(aws_env.deps, "orders", "upstream-dependency", TraitStatus.PASS)

    monkeypatch.setattr(WaitFunction, "_wait_interval", wait_then_push)
    arn = aws_env.start("orders-manual-1")

    described = aws_env.finish(arn)

    assert described["status"] == "SUCCEEDED", described
    states = aws_env.states_entered(arn)
    assert states.count("CheckReadiness") == 3 and states.count("WaitForReadiness") == 2
    entry = aws_env.store.get_run_log("orders", _period(aws_env), "daily")
    assert entry is not None and entry.status is RunStatus.COMPLETED
    assert seen == [1, 1]  # the pipeline's watch.interval


def test_never_ready_ends_after_the_bounded_readiness_loop_and_releases_the_lock(aws_env: Aws) -> None:
    arn = aws_env.start("orders-manual-1")

    described = aws_env.finish(arn)

    assert described["status"] == "SUCCEEDED", described
    states = aws_env.states_entered(arn)
    assert states.count("CheckReadiness") == 60 and states[-2:] == ["ReleaseLock", "Done"]
    assert aws_env.store.get_run_log("orders", _period(aws_env), "daily") is None
    assert _lock_is_free(aws_env)
    # The level-triggered loop carries on: the watchdog finds the next look due.
    assert aws_env.store.due_at("advance:orders:daily") is not None


def test_trigger_failure_is_retried_after_backoff_then_given_up_with_its_category(aws_env: Aws) -> None:
    write_orders(aws_env.root, command="false")  # exits 1: a TRANSIENT failure; maxAttempts 2, backoff 1s
    aws_env.reload()
    push_trait(aws_env.deps, "orders", "upstream-dependency", TraitStatus.PASS)
    aws_env.alert_messages()

    described = aws_env.finish(aws_env.start("orders-manual-1"))

    assert described["status"] == "FAILED" and described.get("error") == "Interlock.PipelineFailed", described
    entry = aws_env.store.get_run_log("orders", _period(aws_env), "daily")
    assert entry is not None and entry.status is RunStatus.FAILED and entry.attempt_number == 2
    assert entry.failure_category is FailureCategory.TRANSIENT and entry.alert_sent
    assert [a.attempt for a in entry.retry_history or []] == [1, 2]
    assert 1 in aws_env.waits  # the backoff: a Wait of backoffSeconds, not a busy loop
    alerts = [a.alert_type for a in aws_env.store.list_alerts("orders")]
    assert alerts.count("retry_exhausted") == 1
    published = [m for m in aws_env.alert_messages() if m.get("alertType") == "retry_exhausted"]
    assert len(published) == 1
    assert _lock_is_free(aws_env)


def test_second_execution_for_the_same_pipeline_and_schedule_does_nothing(aws_env: Aws) -> None:
    held = orchestrator.handler({"action": "acquireLock", "pipelineID": "orders", "scheduleID": "daily"})
    assert held["result"] == "proceed"
    push_trait(aws_env.deps, "orders", "upstream-dependency", TraitStatus.PASS)

    arn = aws_env.start("orders-manual-2")
    described = aws_env.finish(arn)

    assert described["status"] == "SUCCEEDED"
    assert aws_env.states_entered(arn) == ["CheckInput", "InitState", "AcquireLock", "IsLockAcquired", "Done"]
    assert aws_env.store.get_run_log("orders", _period(aws_env), "daily") is None
    assert not (aws_env.root / "ran-orders").exists()


def test_evaluation_sla_breach_alerts_once_while_the_pipeline_waits(aws_env: Aws) -> None:
    deadline = (aws_env.clock.now().replace(second=0, microsecond=0)).strftime("%H") + ":02"
    write_orders(aws_env.root, extra=f"sla:\n  evaluationDeadline: \"{deadline}\"\n  timezone: UTC\n", interval="10s")
    aws_env.reload()
    aws_env.alert_messages()

    described = aws_env.finish(aws_env.start("orders-manual-1"))  # never ready: 60 rounds of 10 s, past 10:02

    assert described["status"] == "SUCCEEDED"
    breaches = [a for a in aws_env.store.list_alerts("orders") if a.alert_type == "evaluation_sla_breach"]
    assert len(breaches) == 1
    assert [m["alertType"] for m in aws_env.alert_messages()].count("evaluation_sla_breach") == 1


def test_bad_input_fails_the_execution_without_touching_anything(aws_env: Aws) -> None:
    arn = aws_env.sfn.start_execution(stateMachineArn=aws_env.state_machine_arn, name="bad", input="{}")[
        "executionArn"]

    described = aws_env.finish(arn)

    assert described["status"] == "FAILED" and described.get("error") == "Interlock.BadInput"


def test_unknown_pipeline_ends_quietly(aws_env: Aws) -> None:
    described = aws_env.finish(aws_env.start("ghost-1", pipeline="ghost"))

    assert described["status"] == "SUCCEEDED"


def _finish_all(aws: Aws) -> list[dict[str, Any]]:
    """Wait until every execution (including those started by executions) has ended."""
    while True:
        running = [e for e in aws.executions() if e["status"] == "RUNNING"]
        if not running:
            return [aws.sfn.describe_execution(executionArn=e["executionArn"]) for e in aws.executions()]
        for execution in running:
            aws.finish(execution["executionArn"])


def test_asynchronous_job_is_polled_until_it_succeeds(aws_env: Aws) -> None:
    """A step-function trigger (the job is itself a state machine on moto): RUNNING, polled, COMPLETED."""
    job = aws_env.sfn.create_state_machine(
        name="nightly-job", roleArn="arn:aws:iam::123456789012:role/interlock-lambda",
        definition='{"StartAt": "Work", "States": {"Work": {"Type": "Pass", "End": true}}}')["stateMachineArn"]
    write_orders(aws_env.root, trigger=f"  type: step-function\n  stepFunction:\n    stateMachineArn: {job}")
    aws_env.reload()
    push_trait(aws_env.deps, "orders", "upstream-dependency", TraitStatus.PASS)

    arn = aws_env.start("orders-manual-1")
    described = aws_env.finish(arn)

    assert described["status"] == "SUCCEEDED", described
    states = aws_env.states_entered(arn)
    assert "WaitForRun" in states and "PollRunStatus" in states and states[-2:] == ["ReleaseLock", "Done"]
    entry = aws_env.store.get_run_log("orders", _period(aws_env), "daily")
    assert entry is not None and entry.status is RunStatus.COMPLETED
    assert len(aws_env.sfn.list_executions(stateMachineArn=job)["executions"]) == 1


def test_completion_cascades_to_the_pipeline_downstream(aws_env: Aws) -> None:
    from tests.aws.conftest import REPORTS

    (aws_env.root / "pipelines" / "reports.yaml").write_text(REPORTS)
    aws_env.reload()
    push_trait(aws_env.deps, "orders", "upstream-dependency", TraitStatus.PASS)

    aws_env.finish(aws_env.start("orders-manual-1"))
    ended = _finish_all(aws_env)

    names = sorted(d["name"] for d in ended)
    assert len(names) == 2 and names[1].startswith("reports_daily_cascade-orders-daily-")
    assert all(d["status"] == "SUCCEEDED" for d in ended), ended
    entry = aws_env.store.get_run_log("reports", _period(aws_env), "daily")
    assert entry is not None and entry.status is RunStatus.COMPLETED
    assert (aws_env.root / "ran-reports").exists()


def test_monitoring_watches_the_completed_run_until_its_window_ends(aws_env: Aws) -> None:
    write_orders(aws_env.root, interval="10s\n  monitoring: {enabled: true, duration: 30s}")
    aws_env.reload()
    push_trait(aws_env.deps, "orders", "upstream-dependency", TraitStatus.PASS)

    arn = aws_env.start("orders-manual-1")
    described = aws_env.finish(arn)

    assert described["status"] == "SUCCEEDED", described
    states = aws_env.states_entered(arn)
    assert states.count("CheckDrift") >= 3 and "MonitoringWait" in states
    entry = aws_env.store.get_run_log("orders", _period(aws_env), "daily")
    assert entry is not None and entry.status is RunStatus.COMPLETED
    assert _lock_is_free(aws_env)


def test_a_completed_run_publishes_one_lifecycle_event_however_often_the_stream_delivers(
        aws_env: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    topic = aws_env.sns.create_topic(Name="lifecycle")["TopicArn"]
    queue = aws_env.sqs.create_queue(QueueName="lifecycle")["QueueUrl"]
    queue_arn = aws_env.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws_env.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    monkeypatch.setenv("LIFECYCLE_TOPIC_ARN", topic)
    _push_and_route(aws_env)
    aws_env.finish(aws_env.executions()[0]["executionArn"])

    records = aws_env.stream_records()  # TRIGGERING, then COMPLETED: one transition to publish
    assert stream_router.handler({"Records": records}) == {"batchItemFailures": []}
    assert stream_router.handler({"Records": records}) == {"batchItemFailures": []}  # redelivered

    messages = aws_env.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    events = [json.loads(m["Body"]) for m in messages]
    assert [(e["eventType"], e["pipelineId"], e["status"], e["attempt"]) for e in events] == [
        ("PIPELINE_COMPLETED", "orders", "COMPLETED", 1)]
    assert events[0]["date"] == _period(aws_env) and events[0]["runId"].startswith("orders-daily-")


def test_a_failing_task_alerts_releases_the_lock_and_fails_the_execution(aws_env: Aws) -> None:
    """A trigger function that cannot even load (a broken deployment): retried, then caught."""
    lam = boto3_client("lambda")
    lam.update_function_configuration(FunctionName="interlock-trigger", Handler="lambdas.missing.handler")
    push_trait(aws_env.deps, "orders", "upstream-dependency", TraitStatus.PASS)
    aws_env.alert_messages()

    arn = aws_env.start("orders-manual-1")
    described = aws_env.finish(arn)

    assert described["status"] == "FAILED" and described.get("error") == "Interlock.PipelineFailed"
    states = aws_env.states_entered(arn)
    assert states[-4:] == ["TriggerPipeline", "AlertError", "ReleaseLockAndFail", "PipelineFailed"]
    [alert] = aws_env.alert_messages()
    assert alert["Error"] == "ModuleNotFoundError" and "lambdas.missing" in alert["Cause"]
    assert _lock_is_free(aws_env)
    assert not (aws_env.root / "ran-orders").exists()
