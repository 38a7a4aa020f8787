"""AWS triggers against moto (AWS cannot be reached from here): start, metadata, status, failures."""

from __future__ import annotations

import json
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
