"""AWS triggers against moto (AWS cannot be reached from here): start, metadata, status, failures."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest

from interlock.model import FailureCategory, TriggerConfig
from interlock.triggers import JobState, TriggerContext, TriggerError, trigger_for
from interlock.triggers.aws import execution_name

CTX = TriggerContext("orders-daily-2026-03-02-1", "orders", "daily", "2026-03-02", Path("."))
ROLE = "arn:aws:iam::123456789012:role/r"
pytestmark = pytest.mark.usefixtures("aws")


def config(data: dict[str, object]) -> TriggerConfig:
    return TriggerConfig.model_validate(data)


def start_and_status(cfg: TriggerConfig) -> tuple[dict[str, object], JobState, str]:
    trigger = trigger_for(cfg.type)
    started = trigger.start(cfg, CTX)
    assert started.done is False
    status = trigger.status(cfg, started.metadata)
    return started.metadata, status.state, status.message


def test_glue_starts_a_job_run_with_templated_arguments() -> None:
    glue = boto3.client("glue")
    glue.create_job(Name="load-orders", Role=ROLE, Command={"Name": "glueetl", "ScriptLocation": "s3://b/x.py"})
    cfg = config({"type": "glue", "glue": {"job_name": "load-orders", "arguments": {"--date": "${date}"}}})
    metadata, state, message = start_and_status(cfg)
    assert metadata["glue_job_name"] == "load-orders" and metadata["glue_job_run_id"]
    run = glue.get_job_run(JobName="load-orders", RunId=str(metadata["glue_job_run_id"]))["JobRun"]
    assert run["Arguments"] == {"--date": "2026-03-02"}
    assert (state, message) == (JobState.SUCCEEDED, "SUCCEEDED")


def test_glue_unknown_job_is_a_permanent_failure() -> None:
    cfg = config({"type": "glue", "glue": {"job_name": "nope"}})
    with pytest.raises(TriggerError) as exc:
        trigger_for(cfg.type).start(cfg, CTX)
    assert exc.value.category is FailureCategory.PERMANENT
    assert "glue trigger: StartJobRun failed" in str(exc.value)


def test_emr_adds_a_step_to_the_cluster() -> None:
    emr = boto3.client("emr")
    cluster = emr.run_job_flow(Name="c", ReleaseLabel="emr-6.0.0", JobFlowRole="r", ServiceRole="s",
                               Instances={"InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True,
                                          "MasterInstanceType": "m5.xlarge"})["JobFlowId"]
    cfg = config({"type": "emr", "emr": {"cluster_id": cluster, "step_name": "load", "command": "s3://b/job.jar",
                                          "arguments": {"date": "${date}"}}})
    metadata, state, _ = start_and_status(cfg)
    step = emr.describe_step(ClusterId=cluster, StepId=str(metadata["emr_step_id"]))["Step"]
    assert step["Config"]["Args"] == ["date=2026-03-02"]
    assert state is JobState.RUNNING


def test_emr_serverless_sends_the_run_id_as_client_token_and_polls_to_success() -> None:
    app = boto3.client("emr-serverless").create_application(name="a", releaseLabel="emr-6.6.0",
                                                             type="SPARK")["applicationId"]
    cfg = config({"type": "emr-serverless", "emr_serverless": {
        "application_id": app, "job_name": "load", "execution_role_arn": ROLE, "entry_point": "s3://b/x.py"}})
    metadata, state, message = start_and_status(cfg)
    assert metadata["emr_sl_application_id"] == app and metadata["emr_sl_job_run_id"]
    assert (state, message) == (JobState.SUCCEEDED, "SUCCESS")


def test_step_function_execution_is_named_after_the_run() -> None:
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(name="m", roleArn=ROLE, definition=json.dumps(
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    cfg = config({"type": "step-function", "step_function": {"state_machine_arn": machine,
                                                             "arguments": {"pipeline": "${pipelineId}"}}})
    metadata, state, _ = start_and_status(cfg)
    arn = str(metadata["sfn_execution_arn"])
    assert arn.endswith(":execution:m:orders-daily-2026-03-02-1")
    assert json.loads(sfn.describe_execution(executionArn=arn)["input"]) == {"pipeline": "orders"}
    assert state in (JobState.RUNNING, JobState.SUCCEEDED)


def test_step_function_execution_is_found_by_its_name_once_started_and_not_before() -> None:
    from interlock.triggers import recovery_for

    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(name="m", roleArn=ROLE, definition=json.dumps(
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    cfg = config({"type": "step-function", "step_function": {"state_machine_arn": machine}})
    trigger = recovery_for(cfg.type)
    assert trigger is not None
    assert trigger.find(cfg, CTX) is None
    started = trigger.start(cfg, CTX)
    found = trigger.find(cfg, CTX)
    assert found is not None and found.metadata == {"sfn_execution_arn": started.metadata["sfn_execution_arn"]}
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == 1


def test_only_targets_that_can_be_asked_are_recovered() -> None:
    from interlock.model import TriggerType
    from interlock.triggers import recovery_for

    askable = {t.value for t in TriggerType if recovery_for(t) is not None}
    assert askable == {"airflow", "step-function", "databricks", "emr-serverless", "http", "dagster", "prefect"}


def test_step_function_names_are_cut_to_80_characters_and_stay_unique() -> None:
    long_a, long_b = "p" * 100 + "-1", "p" * 100 + "-2"
    assert len(execution_name(long_a)) == 80 and execution_name(long_a) != execution_name(long_b)
    assert execution_name("a:b c") == "a-b-c"


def test_status_without_the_ids_it_needs_is_a_permanent_failure() -> None:
    for cfg in (config({"type": "glue", "glue": {"job_name": "j"}}),
                config({"type": "step-function", "step_function": {"state_machine_arn": "arn"}})):
        with pytest.raises(TriggerError) as exc:
            trigger_for(cfg.type).status(cfg, {})
        assert exc.value.category is FailureCategory.PERMANENT


@pytest.mark.parametrize(("mapping", "rows"), [
    ("glue_status", {"SUCCEEDED": "succeeded", "TIMEOUT": "failed", "FAILED": "failed", "STOPPED": "failed",
                     "ERROR": "failed", "STARTING": "running", "RUNNING": "running", "STOPPING": "running",
                     "WAITING": "running", "EXPIRED": "running"}),
    ("emr_status", {"COMPLETED": "succeeded", "FAILED": "failed", "CANCELLED": "failed", "INTERRUPTED": "failed",
                    "PENDING": "running", "CANCEL_PENDING": "running", "RUNNING": "running"}),
    ("emr_serverless_status", {"SUCCESS": "succeeded", "FAILED": "failed", "CANCELLED": "failed",
                               "SUBMITTED": "running", "PENDING": "running", "SCHEDULED": "running",
                               "RUNNING": "running", "CANCELLING": "running"}),
    ("step_function_status", {"SUCCEEDED": "succeeded", "TIMED_OUT": "failed", "FAILED": "failed",
                              "ABORTED": "failed", "RUNNING": "running", "PENDING_REDRIVE": "running"}),
])
def test_every_provider_state_maps_as_spec_c_says(mapping: str, rows: dict[str, str]) -> None:
    from interlock.triggers import aws as aws_triggers

    for state, expected in rows.items():
        status = getattr(aws_triggers, mapping)(state)
        assert (status.state.value, status.message) == (expected, state), state


def _glue_job_with_log(lines: list[str], group: str = "/aws-glue/jobs/error", *, pattern: str | None = "^ERROR_MARKER",
                       stream: str | None = None) -> tuple[JobState, str, FailureCategory | None]:
    """Start a Glue run on moto, write ``lines`` to its log stream, and read its status."""
    boto3.client("glue").create_job(Name="load", Role=ROLE, Command={"Name": "glueetl", "ScriptLocation": "s3://b/x"})
    block: dict[str, object] = {"job_name": "load"}
    if pattern is not None:
        block["failOnLogPattern"] = pattern
    cfg = config({"type": "glue", "glue": block})
    trigger = trigger_for(cfg.type)
    metadata = trigger.start(cfg, CTX).metadata
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName=group)
    name = stream or str(metadata["glue_job_run_id"])
    logs.create_log_stream(logGroupName=group, logStreamName=name)
    now_ms = int(time.time() * 1000)  # CloudWatch refuses events older than 14 days
    if lines:
        logs.put_log_events(logGroupName=group, logStreamName=name,
                            logEvents=[{"timestamp": now_ms + i, "message": line}
                                       for i, line in enumerate(lines)])
    status = trigger.status(cfg, metadata)
    return status.state, status.message, status.category


def test_glue_success_with_an_error_marker_in_its_log_stream_is_a_permanent_failure() -> None:
    state, message, category = _glue_job_with_log(["starting", "ERROR_MARKER: 12 rows rejected", "done"])
    assert (state, category) == (JobState.FAILED, FailureCategory.PERMANENT)
    assert message == ("SUCCEEDED, but a line of its log stream in /aws-glue/jobs/error matches failOnLogPattern: "
                       "ERROR_MARKER: 12 rows rejected")


def test_glue_marker_is_found_in_the_output_group_and_inside_a_multi_line_event() -> None:
    state, _, category = _glue_job_with_log(["row 1\nERROR_MARKER late\nrow 3"], group="/aws-glue/jobs/output")
    assert (state, category) == (JobState.FAILED, FailureCategory.PERMANENT)


@pytest.mark.parametrize(("lines", "pattern", "stream"), [
    (["all good", "an ERROR_MARKER not at the start"], "^ERROR_MARKER", None),  # no line matches
    (["ERROR_MARKER"], None, None),                                             # the check is off by default
    (["ERROR_MARKER"], "^ERROR_MARKER", "another-run"),                          # another run's stream
    ([], "^ERROR_MARKER", None),                                                 # an empty stream
])
def test_glue_success_without_a_matching_line_of_its_own_stays_a_success(
        lines: list[str], pattern: str | None, stream: str | None) -> None:
    assert _glue_job_with_log(lines, pattern=pattern, stream=stream) == (JobState.SUCCEEDED, "SUCCEEDED", None)


def test_glue_success_with_no_log_group_at_all_stays_a_success() -> None:
    boto3.client("glue").create_job(Name="load", Role=ROLE, Command={"Name": "glueetl", "ScriptLocation": "s3://b/x"})
    cfg = config({"type": "glue", "glue": {"job_name": "load", "failOnLogPattern": "ERROR"}})
    _, state, message = start_and_status(cfg)
    assert (state, message) == (JobState.SUCCEEDED, "SUCCEEDED")


@pytest.mark.parametrize(("block", "reason"), [
    ({"failOnLogPattern": "("}, "is not a regular expression"),
    ({"failOnLogPattern": "  "}, "must not be empty"),
    ({"failOnLogPattern": "x" * 513}, "at most 512"),
    ({"failOnLogPattern": "E", "logGroups": []}, "at least 1 item"),
    ({"failOnLogPattern": "E", "logGroups": ["bad group name"]}, "is not a CloudWatch log group name"),
])
def test_glue_log_check_settings_are_validated(block: dict[str, object], reason: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as exc:
        config({"type": "glue", "glue": {"job_name": "load", **block}})
    assert reason in str(exc.value)
