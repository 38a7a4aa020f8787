"""AWS triggers through boto3: Glue jobs, EMR steps, EMR Serverless job runs, Step Functions, Lambda.

Idempotency: Step Functions uses the run id as the execution name and EMR Serverless as the
``clientToken``, so a second start of the same run is recognised by AWS. Glue and EMR offer no
key; there the claim and the run log (written before the call) keep a retried task from starting
a second job. Each service's job states map to a run status in its trigger's ``status`` method.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from interlock.model import FailureCategory, TriggerConfig
from interlock.redaction import excerpt
from interlock.triggers.base import JobState, Started, Status, TriggerContext, TriggerError, bounded_token
from interlock.triggers.template import render, render_map

# EMR Serverless' limit on a StartJobRun clientToken (characters).
CLIENT_TOKEN_MAX = 64

_CLIENT_CONFIG = {"connect_timeout": 10, "read_timeout": 30, "retries": {"max_attempts": 3, "mode": "standard"}}


def client(service: str) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:  # pragma: no cover - boto3 is in the aws and test extras
        raise TriggerError(f"the {service} trigger needs boto3: pip install 'interlock[aws]'",
                           FailureCategory.PERMANENT) from None
    return boto3.client(service, config=Config(**_CLIENT_CONFIG))


def _aws_error(what: str, exc: Exception) -> TriggerError:
    """Throttling and 5xx are TRANSIENT; validation/access errors PERMANENT."""
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    permanent = code in ("ValidationException", "AccessDeniedException", "EntityNotFoundException",
                         "ResourceNotFoundException", "InvalidInputException", "StateMachineDoesNotExist",
                         "InvalidArn", "InvalidRequestException") or (400 <= status < 500 and code not in (
        "ThrottlingException", "TooManyRequestsException", "ConcurrentRunsExceededException"))
    return TriggerError(f"{what}: {code or type(exc).__name__}: {exc}",
                        FailureCategory.PERMANENT if permanent else FailureCategory.TRANSIENT)


def _botocore_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return ClientError, BotoCoreError


def _ask(target: str, action: str, needs: str, call: Callable[[], Any]) -> Any:
    """One status call to AWS: run metadata without ``needs`` is PERMANENT, AWS errors as :func:`_aws_error`."""
    try:
        return call()
    except KeyError:
        raise TriggerError(f"{target} status: run metadata lacks the {needs}", FailureCategory.PERMANENT) from None
    except _botocore_errors() as exc:
        raise _aws_error(f"{target} status: {action} failed", exc) from None


def _map(state: str, succeeded: set[str], failed: set[str]) -> Status:
    if state in succeeded:
        return Status(JobState.SUCCEEDED, state)
    if state in failed:
        return Status(JobState.FAILED, state)
    return Status(JobState.RUNNING, state)


def glue_status(state: str) -> Status:
    return _map(state, {"SUCCEEDED"}, {"TIMEOUT", "FAILED", "STOPPED", "ERROR"})


def emr_status(state: str) -> Status:
    return _map(state, {"COMPLETED"}, {"FAILED", "CANCELLED", "INTERRUPTED"})


def emr_serverless_status(state: str) -> Status:
    return _map(state, {"SUCCESS"}, {"FAILED", "CANCELLED"})


def step_function_status(state: str) -> Status:
    return _map(state, {"SUCCEEDED"}, {"TIMED_OUT", "FAILED", "ABORTED"})


class GlueTrigger:
    def start(self, config: TriggerConfig, ctx: TriggerContext) -> Started:
        assert config.glue is not None
        try:
            answer = client("glue").start_job_run(JobName=config.glue.job_name,
                                                  Arguments=render_map(config.glue.arguments, ctx))
        except _botocore_errors() as exc:
            raise _aws_error("glue trigger: StartJobRun failed", exc) from None
        return Started(False, {"glue_job_name": config.glue.job_name, "glue_job_run_id": answer.get("JobRunId", "")})

    def status(self, config: TriggerConfig, metadata: dict[str, Any]) -> Status:
        run = _ask("glue", "GetJobRun", "job run id", lambda: client("glue").get_job_run(
            JobName=metadata["glue_job_name"], RunId=metadata["glue_job_run_id"]))
        status = glue_status(str(run.get("JobRun", {}).get("JobRunState", "")))
        block = config.glue
        if status.state is JobState.SUCCEEDED and block is not None and block.fail_on_log_pattern:
            marker = glue_error_marker(block.log_groups, str(metadata["glue_job_run_id"]), block.fail_on_log_pattern)
            if marker is not None:
                group, line = marker
                return Status(JobState.FAILED, f"SUCCEEDED, but a line of its log stream in {group} matches "
                                               f"failOnLogPattern: {excerpt(line, LOG_LINE_QUOTE)}",
                              FailureCategory.PERMANENT)
        return status


# Characters of a matching log line quoted in the run's failure message.
LOG_LINE_QUOTE = 300
# Pages of FilterLogEvents read per log group (up to 10,000 events each) before giving up the search.
LOG_PAGES_MAX = 20


def glue_error_marker(groups: list[str], run_id: str, pattern: str) -> tuple[str, str] | None:
    """The first (log group, line) of the job run's log streams that matches ``pattern``, if any.

    Glue names a run's streams after its job run id. A group without that stream (a job that
    wrote nothing to stderr) holds no marker; any other error of CloudWatch Logs is raised as a
    TriggerError classified like the other AWS calls (throttling is retried on the next poll).
    """
    compiled = re.compile(pattern)
    logs = client("logs")
    for group in groups:
        token: str | None = None
        for _ in range(LOG_PAGES_MAX):
            request: dict[str, Any] = {"logGroupName": group, "logStreamNames": [run_id]}
            if token:
                request["nextToken"] = token
            try:
                page = logs.filter_log_events(**request)
            except _botocore_errors() as exc:
                if getattr(exc, "response", {}).get("Error", {}).get("Code", "") == "ResourceNotFoundException":
                    break
                raise _aws_error("glue status: reading the run's CloudWatch logs failed", exc) from None
            for event in page.get("events", []):
                for line in str(event.get("message", "")).splitlines():
                    if compiled.search(line):
                        return group, line
            token = page.get("nextToken")
            if not token:
                break
    return None


class EmrTrigger:
    def start(self, config: TriggerConfig, ctx: TriggerContext) -> Started:
        block = config.emr
        assert block is not None
        args = [f"{k}={v}" for k, v in sorted(render_map(block.arguments, ctx).items())]
        step = {"Name": block.step_name, "ActionOnFailure": "CONTINUE",
                "HadoopJarStep": {"Jar": block.command, "Args": args}}
        try:
            answer = client("emr").add_job_flow_steps(JobFlowId=block.cluster_id, Steps=[step])
        except _botocore_errors() as exc:
            raise _aws_error("emr trigger: AddJobFlowSteps failed", exc) from None
        step_ids = answer.get("StepIds") or [""]
        return Started(False, {"emr_cluster_id": block.cluster_id, "emr_step_id": step_ids[0]})

    def status(self, config: TriggerConfig, metadata: dict[str, Any]) -> Status:
        answer = _ask("emr", "DescribeStep", "step id", lambda: client("emr").describe_step(
            ClusterId=metadata["emr_cluster_id"], StepId=metadata["emr_step_id"]))
        return emr_status(str(answer.get("Step", {}).get("Status", {}).get("State", "")))


class EmrServerlessTrigger:
    idempotent_start = True  # the clientToken is the run id: AWS answers a repeated start with the same job run

    def start(self, config: TriggerConfig, ctx: TriggerContext) -> Started:
        block = config.emr_serverless
        assert block is not None
        request: dict[str, Any] = {"applicationId": block.application_id, "name": block.job_name,
                                   "clientToken": bounded_token(ctx.run_id, CLIENT_TOKEN_MAX)}
        if block.execution_role_arn:
            request["executionRoleArn"] = block.execution_role_arn
        if block.entry_point:
            request["jobDriver"] = {"sparkSubmit": {"entryPoint": block.entry_point, "entryPointArguments": [
                f"{k}={v}" for k, v in sorted(render_map(block.arguments, ctx).items())]}}
        try:
            answer = client("emr-serverless").start_job_run(**request)
        except _botocore_errors() as exc:
            raise _aws_error("emr-serverless trigger: StartJobRun failed", exc) from None
        return Started(False, {"emr_sl_application_id": block.application_id,
                               "emr_sl_job_run_id": answer.get("jobRunId", "")})

    def status(self, config: TriggerConfig, metadata: dict[str, Any]) -> Status:
        answer = _ask("emr-serverless", "GetJobRun", "job run id", lambda: client("emr-serverless").get_job_run(
            applicationId=metadata["emr_sl_application_id"], jobRunId=metadata["emr_sl_job_run_id"]))
        return emr_serverless_status(str(answer.get("jobRun", {}).get("state", "")))


_SFN_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def execution_name(run_id: str) -> str:
    """The run id as a Step Functions execution name (80 characters at most, a safe alphabet)."""
    name = _SFN_NAME.sub("-", run_id)
    if len(name) <= 80:
        return name
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:16]
    return f"{name[:63]}-{digest}"


class StepFunctionTrigger:
    idempotent_start = True  # the execution name is the run id: a second start is ExecutionAlreadyExists

    def find(self, config: TriggerConfig, ctx: TriggerContext) -> Started | None:
        """The execution named after ``ctx.run_id``, or None if Step Functions has none."""
        block = config.step_function
        assert block is not None
        arn = block.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{execution_name(ctx.run_id)}"
        try:
            client("stepfunctions").describe_execution(executionArn=arn)
        except _botocore_errors() as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code", "") == "ExecutionDoesNotExist":
                return None
            raise _aws_error("step-function lookup: DescribeExecution failed", exc) from None
        return Started(False, {"sfn_execution_arn": arn})

    def start(self, config: TriggerConfig, ctx: TriggerContext) -> Started:
        block = config.step_function
        assert block is not None
        name = execution_name(ctx.run_id)
        arguments = render_map(block.arguments, ctx)
        request: dict[str, Any] = {"stateMachineArn": block.state_machine_arn, "name": name}
        if arguments:
            request["input"] = json.dumps(arguments, sort_keys=True)
        sfn = client("stepfunctions")
        try:
            answer = sfn.start_execution(**request)
        except _botocore_errors() as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code != "ExecutionAlreadyExists":
                raise _aws_error("step-function trigger: StartExecution failed", exc) from None
            # Started before (a redelivered task): the execution name is ours, so it is the same run.
            arn = block.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"
            return Started(False, {"sfn_execution_arn": arn, "alreadyStarted": True})
        return Started(False, {"sfn_execution_arn": answer["executionArn"]})

    def status(self, config: TriggerConfig, metadata: dict[str, Any]) -> Status:
        answer = _ask("step-function", "DescribeExecution", "execution ARN", lambda: client(
            "stepfunctions").describe_execution(executionArn=metadata["sfn_execution_arn"]))
        return step_function_status(str(answer.get("status", "")))


# Characters of a function's error answer quoted in the failure message.
_FUNCTION_ERROR_QUOTED = 1000


class LambdaTrigger:
    """Invoke a function. ``Event``: Lambda queues it (202) and the run stays RUNNING until the
    function reports through the completion callback, as an ``http`` job does. ``RequestResponse``:
    the run ends with the call; a function error (``FunctionError`` in the answer) fails it with the
    function's own message. Lambda takes no idempotency key, so an uncertain start is reported stuck."""

    def start(self, config: TriggerConfig, ctx: TriggerContext) -> Started:
        block = config.lambda_
        assert block is not None
        if block.payload is None:
            payload = json.dumps({"runId": ctx.run_id, "pipelineId": ctx.pipeline, "scheduleId": ctx.schedule,
                                  "period": ctx.period})
        else:
            payload = render(block.payload, ctx)
            try:
                json.loads(payload)
            except ValueError as exc:
                raise TriggerError(f"lambda trigger: payload is not JSON: {exc}", FailureCategory.PERMANENT) from None
        request: dict[str, Any] = {"FunctionName": block.function_name, "InvocationType": block.invocation_type,
                                   "Payload": payload.encode()}
        if block.qualifier:
            request["Qualifier"] = block.qualifier
        try:
            answer = client("lambda").invoke(**request)
        except _botocore_errors() as exc:
            raise _aws_error("lambda trigger: Invoke failed", exc) from None
        metadata = {"lambda_function": block.function_name, "lambda_status": int(answer.get("StatusCode", 0))}
        if answer.get("ExecutedVersion"):
            metadata["lambda_version"] = str(answer["ExecutedVersion"])
        if block.invocation_type == "Event":
            return Started(False, metadata)
        body = answer["Payload"].read().decode(errors="replace") if answer.get("Payload") else ""
        if answer.get("FunctionError"):
            raise TriggerError(f"lambda function {block.function_name} failed ({answer['FunctionError']}): "
                               f"{excerpt(_function_error(body), _FUNCTION_ERROR_QUOTED)}", FailureCategory.TRANSIENT)
        return Started(True, {**metadata, "lambda_result": excerpt(body, _FUNCTION_ERROR_QUOTED)})

    def status(self, config: TriggerConfig, metadata: dict[str, Any]) -> Status:
        # An asynchronously invoked function reports its end through the completion callback.
        return Status(JobState.RUNNING, "waiting for the completion callback")


def _function_error(body: str) -> str:
    """``errorType: errorMessage`` of a function error's answer, else the answer as it came."""
    try:
        answer = json.loads(body)
        return f"{answer.get('errorType', 'Error')}: {answer['errorMessage']}"
    except (ValueError, KeyError, TypeError, AttributeError):
        return body
