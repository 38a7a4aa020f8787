"""The ``prefect`` trigger: create a flow run of a deployment through Prefect's REST API and poll it.

``api_url`` is what ``PREFECT_API_URL`` would be: ``http://host:4200/api`` for a server, or
``https://api.prefect.cloud/api/accounts/<account>/workspaces/<workspace>`` for Prefect Cloud.
The flow run's ``idempotency_key`` is the Interlock run id: Prefect answers a repeated
``create_flow_run`` with the run it made the first time, and :meth:`PrefectTrigger.find` looks a run
up by that key (``POST /flow_runs/filter``, ``flow_runs.idempotency_key.any_`` and the deployment).
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import httpx

from interlock.model import FailureCategory, TriggerConfig
from interlock.model import PrefectTrigger as PrefectBlock
from interlock.netguard import BlockedURL, check_url
from interlock.redaction import excerpt
from interlock.triggers.base import JobState, Started, Status, TriggerContext, TriggerError
from interlock.triggers.calls import call
from interlock.triggers.template import render, render_map, render_mapping

DEFAULT_TIMEOUT = 30.0
_RUNNING = frozenset({"SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING"})


def _block(config: TriggerConfig) -> PrefectBlock:
    if config.prefect is None:
        raise TriggerError("prefect trigger config is missing", FailureCategory.PERMANENT)
    return config.prefect


def _request(block: PrefectBlock, method: str, path: str, ctx: TriggerContext | None, doing: str,
             body: dict[str, Any] | None = None) -> Any:
    """The JSON answer of one API call; HTTP errors as TriggerError by status."""
    headers = {"Content-Type": "application/json", **render_map(block.headers, ctx)}
    if block.auth_string:
        token = base64.b64encode(render(block.auth_string, ctx).encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    response = call(f"prefect {doing} ({method} {path})", lambda: httpx.request(
        method, f"{block.api_url.rstrip('/')}{path}", json=body, headers=headers,
        timeout=float(block.timeout or DEFAULT_TIMEOUT)), quoted=500, timeouts=True)
    try:
        return response.json()
    except ValueError:
        raise TriggerError(f"prefect {doing}: the answer is not JSON: {excerpt(response.text, 300)}",
                           FailureCategory.TRANSIENT) from None


def _checked(config: TriggerConfig, ctx: TriggerContext) -> PrefectBlock:
    block = _block(config)
    try:
        check_url(block.api_url, using=ctx.outbound)
    except BlockedURL as exc:
        raise TriggerError(str(exc), FailureCategory.PERMANENT) from None
    return block


def _deployment_id(block: PrefectBlock, ctx: TriggerContext) -> str:
    if block.deployment_id:
        return block.deployment_id
    assert block.deployment is not None  # the model requires one of the two
    flow, name = block.deployment.split("/", 1)
    found = _request(block, "GET", f"/deployments/name/{quote(flow, safe='')}/{quote(name, safe='')}", ctx,
                     "deployment lookup")
    try:
        return str(found["id"])
    except (KeyError, TypeError):
        raise TriggerError("prefect deployment lookup: the answer has no id", FailureCategory.TRANSIENT) from None


def _started(block: PrefectBlock, flow_run: Any) -> Started:
    try:
        run_id = str(flow_run["id"])
    except (KeyError, TypeError):
        raise TriggerError("prefect: the flow run in the answer has no id", FailureCategory.TRANSIENT) from None
    return Started(False, {"prefect_api_url": block.api_url, "prefect_flow_run_id": run_id})


class PrefectTrigger:
    def find(self, config: TriggerConfig, ctx: TriggerContext) -> Started | None:
        """The deployment's flow run whose idempotency key is ``ctx.run_id``, or None."""
        block = _checked(config, ctx)
        deployment = _deployment_id(block, ctx)
        runs = _request(block, "POST", "/flow_runs/filter", ctx, "lookup", {
            "flow_runs": {"idempotency_key": {"any_": [ctx.run_id]}, "deployment_id": {"any_": [deployment]}},
            "sort": "EXPECTED_START_TIME_ASC", "limit": 1})
        if not isinstance(runs, list):
            raise TriggerError("prefect lookup: the answer is not a list of flow runs", FailureCategory.TRANSIENT)
        return _started(block, runs[0]) if runs else None

    def start(self, config: TriggerConfig, ctx: TriggerContext) -> Started:
        # One call: Prefect answers a repeated idempotency_key with the flow run of the first call.
        block = _checked(config, ctx)
        deployment = _deployment_id(block, ctx)
        body = {"idempotency_key": ctx.run_id,
                "parameters": render_mapping(block.parameters, ctx, "prefect parameters"),
                "tags": ["interlock"]}
        flow_run = _request(block, "POST", f"/deployments/{quote(deployment, safe='')}/create_flow_run", ctx,
                            "create flow run", body)
        return _started(block, flow_run)

    def status(self, config: TriggerConfig, metadata: dict[str, Any]) -> Status:
        block = _block(config)
        run_id = metadata.get("prefect_flow_run_id")
        if not run_id:
            raise TriggerError("prefect status: run metadata lacks the flow run id", FailureCategory.PERMANENT)
        if metadata.get("prefect_api_url"):
            block = block.model_copy(update={"api_url": str(metadata["prefect_api_url"])})
        flow_run = _request(block, "GET", f"/flow_runs/{quote(str(run_id), safe='')}", None, "status")
        try:
            state = flow_run.get("state") or {}
            kind = str(state.get("type") or flow_run.get("state_type") or "")
            name = str(state.get("name") or kind)
            message = str(state.get("message") or "")
        except AttributeError:
            raise TriggerError("prefect status: the answer has no state", FailureCategory.TRANSIENT) from None
        text = f"{name}: {excerpt(message, 300)}" if message else name
        if kind == "COMPLETED":
            return Status(JobState.SUCCEEDED, text)
        if kind in ("FAILED", "CRASHED"):
            return Status(JobState.FAILED, text)
        if kind == "CANCELLED":  # stopped on purpose: running it again is the operator's call
            return Status(JobState.FAILED, text, FailureCategory.PERMANENT)
        if kind in _RUNNING:
            return Status(JobState.RUNNING, text)
        raise TriggerError(f"prefect status: unknown state type {kind!r}", FailureCategory.TRANSIENT)
