"""The ``dagster`` trigger: launch a job through Dagster's GraphQL API and poll the run's status.

Dagster has no idempotency key on ``launchRun``, so the run carries the Interlock run id as the tag
``interlock/run_id`` and :meth:`DagsterTrigger.find` looks it up (``runsOrError`` filtered by that
tag); ``start`` launches only when no run has the tag, so a redelivered start returns the first run.
Works with an OSS webserver (``<url>/graphql``) and Dagster+ (``https://<org>.dagster.cloud/<deployment>``
with a ``Dagster-Cloud-Api-Token`` header).
"""

from __future__ import annotations

from typing import Any

import httpx

from interlock.model import DagsterTrigger as DagsterBlock
from interlock.model import FailureCategory, TriggerConfig
from interlock.netguard import BlockedURL, check_url
from interlock.redaction import excerpt
from interlock.triggers.base import JobState, Started, Status, TriggerContext, TriggerError
from interlock.triggers.calls import call
from interlock.triggers.template import render_map, render_mapping

RUN_ID_TAG = "interlock/run_id"
DEFAULT_TIMEOUT = 30.0

FIND = """
query InterlockFindRun($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    __typename
    ... on Runs { results { runId status } }
    ... on InvalidPipelineRunsFilterError { message }
    ... on PythonError { message }
  }
}
"""

LAUNCH = """
mutation InterlockLaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message }
  }
}
"""

STATUS = """
query InterlockRunStatus($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { runId status }
    ... on Error { message }
  }
}
"""

# launchRun answers that retrying the same launch cannot fix: the job, its config or the caller.
PERMANENT_ERRORS = frozenset({
    "RunConfigValidationInvalid", "PipelineNotFoundError", "JobNotFoundError", "InvalidSubsetError",
    "InvalidStepError", "InvalidOutputError", "PresetNotFoundError", "ConflictingExecutionParamsError",
    "NoModeProvidedError", "UnauthorizedError", "RepositoryLocationNotFound", "RepositoryNotFoundError",
    "RunNotFoundError",
})
_RUNNING = frozenset({"QUEUED", "NOT_STARTED", "MANAGED", "STARTING", "STARTED", "CANCELING"})


def _graphql(block: DagsterBlock, query: str, variables: dict[str, Any], ctx: TriggerContext | None,
             doing: str) -> dict[str, Any]:
    """The ``data`` of one GraphQL call; HTTP and GraphQL-level errors as TriggerError."""
    headers = {"Content-Type": "application/json", **render_map(block.headers, ctx)}
    response = call(f"dagster {doing}", lambda: httpx.post(
        f"{block.url.rstrip('/')}/graphql", json={"query": query, "variables": variables}, headers=headers,
        timeout=float(block.timeout or DEFAULT_TIMEOUT)), quoted=500, timeouts=True)
    try:
        answer = response.json()
        data = answer.get("data")
        errors = answer.get("errors")
    except (ValueError, AttributeError):
        raise TriggerError(f"dagster {doing}: the answer is not GraphQL JSON: {excerpt(response.text, 300)}",
                           FailureCategory.TRANSIENT) from None
    if errors and not data:
        # The server refused the query itself (a schema this client does not match): not retryable.
        messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
        raise TriggerError(f"dagster {doing}: GraphQL errors: {excerpt(messages, 500)}", FailureCategory.PERMANENT)
    if not isinstance(data, dict):
        raise TriggerError(f"dagster {doing}: the answer has no data", FailureCategory.TRANSIENT)
    return data


def _failure(doing: str, result: dict[str, Any]) -> TriggerError:
    kind = str(result.get("__typename", "unknown"))
    message = str(result.get("message") or "")
    if kind == "RunConfigValidationInvalid":
        message = "; ".join(str(e.get("message", "")) for e in result.get("errors") or [])
    category = FailureCategory.PERMANENT if kind in PERMANENT_ERRORS else FailureCategory.TRANSIENT
    return TriggerError(f"dagster {doing}: {kind}: {excerpt(message, 500)}", category)


def _started(block: DagsterBlock, run_id: str) -> Started:
    return Started(False, {"dagster_url": block.url, "dagster_run_id": run_id})


def _block(config: TriggerConfig) -> DagsterBlock:
    if config.dagster is None:
        raise TriggerError("dagster trigger config is missing", FailureCategory.PERMANENT)
    return config.dagster


def _checked(config: TriggerConfig, ctx: TriggerContext) -> DagsterBlock:
    block = _block(config)
    try:
        check_url(block.url, using=ctx.outbound)
    except BlockedURL as exc:
        raise TriggerError(str(exc), FailureCategory.PERMANENT) from None
    return block


class DagsterTrigger:
    def find(self, config: TriggerConfig, ctx: TriggerContext) -> Started | None:
        """The run tagged with ``ctx.run_id`` (the oldest, should a race have made two), or None."""
        block = _checked(config, ctx)
        data = _graphql(block, FIND, {"filter": {"tags": [{"key": RUN_ID_TAG, "value": ctx.run_id}]}}, ctx, "lookup")
        result = data.get("runsOrError") or {}
        if result.get("__typename") != "Runs":
            raise _failure("lookup", result)
        runs = result.get("results") or []
        if not runs:
            return None
        return _started(block, str(runs[-1]["runId"]))  # newest first

    def start(self, config: TriggerConfig, ctx: TriggerContext) -> Started:
        block = _checked(config, ctx)
        found = self.find(config, ctx)
        if found is not None:
            return found
        params = {
            "selector": {"repositoryLocationName": block.location_name, "repositoryName": block.repository_name,
                         "jobName": block.job_name},
            "runConfigData": render_mapping(block.run_config, ctx, "dagster run_config"),
            "executionMetadata": {"tags": [{"key": RUN_ID_TAG, "value": ctx.run_id}]},
        }
        result = _graphql(block, LAUNCH, {"executionParams": params}, ctx, "launch").get("launchRun") or {}
        if result.get("__typename") != "LaunchRunSuccess":
            raise _failure("launch", result)
        try:
            return _started(block, str(result["run"]["runId"]))
        except (KeyError, TypeError):
            raise TriggerError("dagster launch: the answer has no run id", FailureCategory.TRANSIENT) from None

    def status(self, config: TriggerConfig, metadata: dict[str, Any]) -> Status:
        block = _block(config)
        run_id = metadata.get("dagster_run_id")
        if not run_id:
            raise TriggerError("dagster status: run metadata lacks the run id", FailureCategory.PERMANENT)
        if metadata.get("dagster_url"):
            block = block.model_copy(update={"url": str(metadata["dagster_url"])})
        result = _graphql(block, STATUS, {"runId": str(run_id)}, None, "status").get("runOrError") or {}
        if result.get("__typename") != "Run":
            raise _failure("status", result)
        state = str(result.get("status", ""))
        if state == "SUCCESS":
            return Status(JobState.SUCCEEDED, state)
        if state == "FAILURE":
            return Status(JobState.FAILED, state)
        if state == "CANCELED":  # someone stopped it on purpose: running it again is their call
            return Status(JobState.FAILED, state, FailureCategory.PERMANENT)
        if state in _RUNNING:
            return Status(JobState.RUNNING, state)
        raise TriggerError(f"dagster status: unknown run status {state!r}", FailureCategory.TRANSIENT)
