"""Each Lambda handler against moto (DynamoDB store, Step Functions, SNS), one behaviour per test."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from interlock.errors import InvalidStepRequest
from interlock.model import EventKind, TraitStatus
from interlock.steps.push import push_trait
from lambdas import evaluator, executions, orchestrator, run_checker, runtime, stream_router, trigger, watchdog
from tests.aws.conftest import TABLE, Aws, write_orders

IDS = {"pipelineID": "orders", "scheduleID": "daily"}


def _orch(action: str, payload: dict[str, Any] | None = None, **ids: str) -> dict[str, Any]:
    event: dict[str, Any] = {"action": action, **IDS, **ids}
    if payload is not None:
        event["payload"] = payload
    return orchestrator.handler(event)


def _gate(aws: Aws) -> dict[str, Any]:
    gate = _orch("checkRunLog")
    assert gate["result"] == "proceed", gate
    payload: dict[str, Any] = gate["payload"]
    return payload


# -- the runtime ----------------------------------------------------------------------------------------


def test_a_cold_start_registers_only_the_pipelines_whose_file_changed(aws_env: Aws,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # Every container registers the bundled project (lambdas/runtime.py); the table's ledger makes a
    # start with nothing changed write nothing.
    assert set(aws_env.store.pipeline_digests()) == set(aws_env.project.pipelines) >= {"orders"}
    written: list[str] = []
    register = aws_env.store._register

    def counting(config: Any, digest: str | None) -> None:
        written.append(config.name)
        register(config, digest)

    monkeypatch.setattr(aws_env.store, "_register", counting)
    aws_env.reload()
    assert written == []
    write_orders(aws_env.root, command="touch ran-orders-v2")
    aws_env.reload()
    assert written == ["orders"]
    assert aws_env.store.get_pipeline("orders").trigger.command.command == "touch ran-orders-v2"  # type: ignore[union-attr]


# -- orchestrator -------------------------------------------------------------------------------------


def test_unknown_action_is_an_error_result_not_an_exception(aws_env: Aws) -> None:
    assert _orch("alertError") == {"action": "alertError", "result": "error",
                                   "payload": {"error": "unknown action: alertError"}}


def test_unknown_pipeline_is_an_error_result(aws_env: Aws) -> None:
    response = _orch("acquireLock", pipelineID="ghost")
    assert response["result"] == "error" and "ghost" in response["payload"]["error"]


def test_lock_is_exclusive_until_released_with_its_token(aws_env: Aws) -> None:
    first = _orch("acquireLock")
    assert first["result"] == "proceed" and first["payload"]["lockToken"]
    assert _orch("acquireLock")["result"] == "skip"

    assert _orch("releaseLock", {"lock": first}) == {"action": "releaseLock", "result": "proceed",
                                                     "payload": {"released": True}}
    assert _orch("acquireLock")["result"] == "proceed"


def test_release_without_a_lock_is_a_no_op(aws_env: Aws) -> None:
    response = _orch("releaseLock", {"lock": {}})
    assert response["result"] == "proceed" and response["payload"]["released"] is False


def test_gate_lists_the_traits_to_evaluate_for_this_period_and_attempt(aws_env: Aws) -> None:
    payload = _gate(aws_env)
    assert payload["attempt"] == 1
    assert [t["traitType"] for t in payload["traits"]] == ["source-freshness", "upstream-dependency",
                                                           "resource-availability"]
    assert all(t["period"] == payload["period"] and t["pipelineID"] == "orders" for t in payload["traits"])


def test_readiness_over_the_evaluator_results_says_what_blocks(aws_env: Aws) -> None:
    payload = _gate(aws_env)
    results = [evaluator.handler(item) for item in payload["traits"]]
    assert [r["status"] for r in results] == ["PASS", "STALE", "PASS"]

    readiness = _orch("checkReadiness", {**payload, "traitResults": results})

    assert readiness["result"] == "not_ready"
    assert readiness["payload"] == {"blocking": ["upstream-dependency"], "waitSeconds": 1}


def test_readiness_waits_for_the_trigger_anyway_instant_then_proceeds_although_not_ready(aws_env: Aws) -> None:
    write_orders(aws_env.root, interval="1h", extra="schedules:\n  - {name: daily, triggerAnyway: '10:05'}\n")
    aws_env.reload()
    payload = _gate(aws_env)
    early = _orch("checkReadiness", {**payload, "traitResults": [evaluator.handler(i) for i in payload["traits"]]})
    # The execution waits until the forced instant (5 minutes), not the 1h check interval.
    assert early["result"] == "not_ready" and early["payload"]["waitSeconds"] == 300

    aws_env.clock.advance(timedelta(minutes=5))
    payload = _gate(aws_env)
    forced = _orch("checkReadiness", {**payload, "traitResults": [evaluator.handler(i) for i in payload["traits"]]})
    assert forced == {"action": "checkReadiness", "result": "proceed",
                      "payload": {"period": payload["period"], "attempt": 1}}
    assert [e.event.kind for e in aws_env.store.list_events("orders")].count(EventKind.TRIGGER_FORCED) == 1


def test_readiness_needs_one_result_per_trait(aws_env: Aws) -> None:
    payload = _gate(aws_env)
    response = _orch("checkReadiness", {**payload, "traitResults": []})
    assert response["result"] == "error"


def test_ready_then_triggered_then_the_gate_says_done(aws_env: Aws) -> None:
    push_trait(aws_env.deps, "orders", "upstream-dependency", TraitStatus.PASS)
    payload = _gate(aws_env)
    readiness = _orch("checkReadiness", {**payload, "traitResults": [evaluator.handler(i) for i in payload["traits"]]})
    assert readiness == {"action": "checkReadiness", "result": "proceed",
                         "payload": {"period": payload["period"], "attempt": 1}}

    run = trigger.handler({**IDS, "period": payload["period"], "attempt": 1})

    assert run["status"] == "COMPLETED" and run["attempt"] == 1
    assert _orch("checkRunLog") == {"action": "checkRunLog", "result": "skip",
                                    "payload": {"outcome": "done", "period": payload["period"]}}
    assert _orch("checkCompletionSLA")["payload"] == {"breached": False, "alerts": []}


def test_sla_action_reports_a_breach_once(aws_env: Aws) -> None:
    write_orders(aws_env.root, extra='sla:\n  evaluationDeadline: "10:30"\n  timezone: UTC\n')
    aws_env.reload()
    _gate(aws_env)  # the period was looked at: a breach, not a missed schedule
    from datetime import timedelta

    aws_env.clock.advance(timedelta(minutes=45))

    assert _orch("checkEvaluationSLA")["payload"] == {"breached": True, "alerts": ["evaluation_sla_breach"]}
    assert _orch("checkEvaluationSLA")["payload"] == {"breached": False, "alerts": []}


# -- trigger and run-checker --------------------------------------------------------------------------


def test_trigger_retried_after_a_hidden_success_starts_the_job_once(aws_env: Aws) -> None:
    period = _gate(aws_env)["period"]
    first = trigger.handler({**IDS, "period": period, "attempt": 1})
    again = trigger.handler({**IDS, "period": period, "attempt": 1})

    assert first == again and first["status"] == "COMPLETED"
    assert len(aws_env.store.list_runs("orders")) == 1


@pytest.mark.parametrize(("event", "field"), [
    ({"period": "not-a-date/../x", "attempt": -1}, "period"),
    ({"period": "2999-01-01", "attempt": 1}, "period"),
    ({"period": None, "attempt": 1}, "period"),
    ({"pipelineID": "ghost", "attempt": 1}, "pipeline"),
])
def test_trigger_refuses_an_event_the_state_machine_cannot_have_sent_and_starts_nothing(
        aws_env: Aws, event: dict[str, Any], field: str) -> None:
    period = _gate(aws_env)["period"]
    with pytest.raises(InvalidStepRequest) as caught:
        trigger.handler({**IDS, "period": period, **event})
    assert field in dict(caught.value.problems)
    assert aws_env.store.list_runs("orders") == []


def test_evaluator_and_run_checker_refuse_malformed_ids(aws_env: Aws) -> None:
    with pytest.raises(InvalidStepRequest, match="period"):
        evaluator.handler({**IDS, "period": "../x", "traitType": "source-freshness"})
    with pytest.raises(InvalidStepRequest, match="run_id: required"):
        run_checker.handler({})


def test_trigger_failure_carries_its_category_and_message(aws_env: Aws) -> None:
    write_orders(aws_env.root, command="false")
    aws_env.reload()
    period = _gate(aws_env)["period"]

    run = trigger.handler({**IDS, "period": period, "attempt": 1})

    assert run["status"] == "FAILED" and run["failureCategory"] == "TRANSIENT"
    assert "exited with status 1" in run["message"]


def test_run_checker_reports_a_finished_run_as_it_is_and_an_unknown_one_as_unknown(aws_env: Aws) -> None:
    period = _gate(aws_env)["period"]
    run = trigger.handler({**IDS, "period": period, "attempt": 1})

    assert run_checker.handler({"runID": run["runID"]})["status"] == "COMPLETED"
    assert run_checker.handler({"runID": "nope"}) == {"runID": "nope", "status": "UNKNOWN", "waitSeconds": 1}


def test_the_lambda_steps_record_their_latency_as_the_workers_do(aws_env: Aws) -> None:
    period = _gate(aws_env)["period"]
    run = trigger.handler({**IDS, "period": period, "attempt": 1})
    run_checker.handler({"runID": run["runID"]})
    counts = aws_env.store.counts()
    assert counts['interlock_step_seconds_count{step="trigger"}'] == 1
    assert counts['interlock_step_seconds_count{step="check_run"}'] == 1


# -- stream-router ------------------------------------------------------------------------------------


def _record(sk: str, new: dict[str, Any] | None = None, old: dict[str, Any] | None = None, event: str = "INSERT",
            pk: str = "PIPELINE#orders", seq: str = "100") -> dict[str, Any]:
    change: dict[str, Any] = {"Keys": {"PK": {"S": pk}, "SK": {"S": sk}}, "SequenceNumber": seq}
    if new is not None:
        change["NewImage"] = {"PK": {"S": pk}, "SK": {"S": sk}, **new}
    if old is not None:
        change["OldImage"] = {"PK": {"S": pk}, "SK": {"S": sk}, **old}
    return {"eventID": seq, "eventName": event, "dynamodb": change}


def _pushed(status: str, at: str = "2026-03-01T10:00:00Z") -> dict[str, Any]:
    return {"data": {"S": json.dumps({"pipelineId": "orders", "traitType": "ready", "status": status,
                                      "evaluatedAt": at})}}


@pytest.fixture
def idle_machine(aws_env: Aws) -> str:
    """A state machine that does nothing, so routed executions end at once."""
    role = "arn:aws:iam::123456789012:role/interlock-lambda"
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
    arn: str = aws_env.sfn.create_state_machine(name="idle", definition=definition, roleArn=role)["stateMachineArn"]
    aws_env.reload(arn)
    return arn


def _executions(aws: Aws, arn: str) -> list[str]:
    return sorted(e["name"] for e in aws.sfn.list_executions(stateMachineArn=arn)["executions"])


def test_marker_starts_one_execution_for_its_schedule(aws_env: Aws, idle_machine: str) -> None:
    record = _record("MARKER#ingest#2026-03-01T10:00:00Z", {"scheduleID": {"S": "daily"}})

    assert stream_router.handler({"Records": [record, record]}) == {"batchItemFailures": []}

    [name] = _executions(aws_env, idle_machine)
    assert name.startswith("orders_daily_marker-ingest_")
    described = aws_env.sfn.describe_execution(
        executionArn=aws_env.sfn.list_executions(stateMachineArn=idle_machine)["executions"][0]["executionArn"])
    assert json.loads(described["input"]) == {"pipelineID": "orders", "scheduleID": "daily", "source": "marker-ingest"}


def test_records_that_announce_nothing_start_nothing(aws_env: Aws, idle_machine: str) -> None:
    records = [
        _record("PUSHED#ready", _pushed("PASS"), event="REMOVE"),  # TTL expiry
        _record("PUSHED#ready", _pushed("FAIL")),  # cannot make it READY
        _record("PUSHED#ready", _pushed("PASS"), _pushed("PASS"), event="MODIFY"),  # rewritten unchanged
        _record("TRAIT#ready", _pushed("PASS")),  # the evaluator's own result
        _record("RUNLOG#2026-03-01#daily", {"status": {"S": "COMPLETED"}}),
        _record("PUSHED#ready", _pushed("PASS"), pk="PIPELINE#ghost"),  # unknown pipeline
        _record("PUSHED#ready", _pushed("PASS"), pk="RUN#x"),
        # The archive's feed shards (every archived write adds one of these) are no pipeline's input.
        _record("CHANGE#00000000000000000007", {"kind": {"S": "event"}}, pk="CHANGES#003"),
        _record("SEQ", {"n": {"N": "7"}}, event="MODIFY", pk="SEQ#003"),
        _record("EVENT#00000000000000000007", {"pipeline": {"S": "idle"}}, pk="INDEX#events#003"),
        {"eventName": "INSERT", "dynamodb": {"Keys": {"PK": {"N": "1"}}}},  # malformed: skipped, not a crash
        {"eventName": "INSERT"},
        "not a record",
    ]
    assert stream_router.handler({"Records": records}) == {"batchItemFailures": []}
    assert _executions(aws_env, idle_machine) == []


def test_a_changed_push_is_a_new_transition(aws_env: Aws, idle_machine: str) -> None:
    first = _record("PUSHED#ready", _pushed("PASS", "2026-03-01T10:00:00Z"))
    second = _record("PUSHED#ready", _pushed("PASS", "2026-03-01T11:00:00Z"), _pushed("PASS", "2026-03-01T10:00:00Z"),
                     event="MODIFY", seq="101")

    stream_router.handler({"Records": [first, second]})

    assert len(_executions(aws_env, idle_machine)) == 2


def test_a_failing_start_is_reported_by_sequence_number_and_the_rest_still_routed(aws_env: Aws) -> None:
    aws_env.reload(aws_env.state_machine_arn + "-gone")
    bad = _record("PUSHED#ready", _pushed("PASS"), seq="200")
    ignored = _record("TRAIT#ready", _pushed("PASS"), seq="201")

    assert stream_router.handler({"Records": [bad, ignored]}) == {"batchItemFailures": [{"itemIdentifier": "200"}]}


def test_execution_names_are_sanitised_and_long_ones_hashed_not_cut() -> None:
    assert executions.execution_name("my-pipe", "2026-02-22", "daily") == "my-pipe_2026-02-22_daily"
    assert executions.execution_name("pipe with spaces") == "pipe_with_spaces"
    a, b = executions.execution_name("a" * 100, "x"), executions.execution_name("a" * 100, "y")
    assert len(a) == len(b) == 80 and a != b


# -- watchdog -----------------------------------------------------------------------------------------


def test_watchdog_starts_an_execution_per_due_pipeline_once_per_minute(aws_env: Aws, idle_machine: str) -> None:
    first = watchdog.handler({})
    again = watchdog.handler({})

    assert first["failed"] == [] and first["scheduled"] >= 2
    names = _executions(aws_env, idle_machine)
    assert [n.split("_reconcile")[0] for n in names] == ["example_daily", "orders_daily"]
    assert again["executions"] == []  # leased by the first run: nothing due again yet


def test_watchdog_raises_the_sla_alerts_that_are_due(aws_env: Aws, idle_machine: str) -> None:
    from datetime import timedelta

    write_orders(aws_env.root, extra='sla:\n  evaluationDeadline: "10:30"\n  timezone: UTC\n')
    aws_env.reload(idle_machine)
    watchdog.handler({})
    aws_env.clock.advance(timedelta(minutes=45))

    result = watchdog.handler({})

    assert result["failed"] == []
    alerts = [a.alert_type for a in aws_env.store.list_alerts("orders")]
    assert alerts == ["schedule_missed"]  # nothing evaluated it before the deadline (the executions are idle)


# -- runtime ------------------------------------------------------------------------------------------


def test_runtime_reads_its_environment_and_caches_only_success(aws_env: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime.reset()
    monkeypatch.setenv("INTERLOCK_CONFIG", str(aws_env.root / "interlock.yaml"))
    monkeypatch.delenv("TABLE_NAME", raising=False)
    with pytest.raises(runtime.ConfigurationError, match="TABLE_NAME"):
        runtime.runtime()

    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("STATE_MACHINE_ARN", aws_env.state_machine_arn)
    built = runtime.runtime()

    assert built is runtime.runtime()
    assert built.deps.pipeline("orders").name == "orders"  # registered from the bundled config
    assert built.executions().arn == aws_env.state_machine_arn


def test_marker_without_attributes_starts_the_pipelines_schedules(aws_env: Aws, idle_machine: str) -> None:
    record = {"eventName": "INSERT", "dynamodb": {"Keys": {"PK": {"S": "PIPELINE#orders"},
                                                           "SK": {"S": "MARKER#freshness#2026-02-22T10:00:00Z"}},
                                                  "SequenceNumber": "7"}}

    assert stream_router.handler({"Records": [record]}) == {"batchItemFailures": []}

    [name] = _executions(aws_env, idle_machine)
    assert name.startswith("orders_daily_marker-freshness_")
