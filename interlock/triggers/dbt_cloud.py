"""The ``dbt-cloud`` trigger: run a dbt Cloud job through the Administrative API v2, then poll it.

``POST {url}/api/v2/accounts/{account}/jobs/{job}/run/`` with ``cause`` (default: naming the
Interlock run id, so the run can be found in dbt Cloud), and optionally ``steps_override`` and
``git_branch``; ``GET .../runs/{id}/`` gives the run's status code: 1 queued, 2 starting, 3 running,
10 success, 20 error, 30 cancelled. dbt Cloud takes no idempotency key: the claim and the run log
(written before the call) keep a redelivered task from starting a second run, and a start whose
outcome is unknown is reported stuck, not retried.
"""

from __future__ import annotations

from typing import Any

import httpx

from interlock.model import DbtCloudTrigger as DbtCloudBlock
from interlock.model import FailureCategory, TriggerConfig
from interlock.netguard import BlockedURL, check_url
from interlock.redaction import excerpt
from interlock.triggers.base import JobState, Started, Status, TriggerContext, TriggerError, category_for_status
from interlock.triggers.template import render

DEFAULT_TIMEOUT = 30.0
# dbt Cloud's run status codes.
_SUCCESS, _ERROR, _CANCELLED = 10, 20, 30
_NAMES = {1: "Queued", 2: "Starting", 3: "Running", _SUCCESS: "Success", _ERROR: "Error", _CANCELLED: "Cancelled"}


def _call(method: str, block: DbtCloudBlock, path: str, what: str, ctx: TriggerContext | None,
          **kwargs: Any) -> dict[str, Any]:
    """One API call; the answer's ``data`` object, or a TriggerError classified by status."""
    url = f"{block.url.rstrip('/')}/api/v2/accounts/{block.account_id}{path}"
    headers = {"Authorization": f"Token {render(block.token, ctx)}", "Accept": "application/json"}
    try:
        response = httpx.request(method, url, headers=headers, timeout=float(block.timeout or DEFAULT_TIMEOUT),
                                 **kwargs)
    except httpx.TimeoutException:
        raise TriggerError(f"dbt-cloud {what}: request timed out", FailureCategory.TIMEOUT) from None
    except httpx.HTTPError as exc:
        raise TriggerError(f"dbt-cloud {what}: request failed: {exc}", FailureCategory.TRANSIENT) from None
    if response.status_code >= 400:
        hint = {401: " (check the token)", 403: " (the token lacks permission for this job)",
                404: " (check account_id and job_id)"}.get(response.status_code, "")
        raise TriggerError(f"dbt-cloud {what}: returned status {response.status_code}{hint}: "
                           f"{excerpt(response.text, 500)}", category_for_status(response.status_code))
    try:
        data = response.json()["data"]
        if not isinstance(data, dict):
            raise TypeError
        return data
    except (ValueError, KeyError, TypeError):
        raise TriggerError(f"dbt-cloud {what}: answer has no data object", FailureCategory.TRANSIENT) from None


class DbtCloudTrigger:
    def start(self, config: TriggerConfig, ctx: TriggerContext) -> Started:
        block = config.dbt_cloud
        if block is None:
            raise TriggerError("dbt-cloud trigger config is missing", FailureCategory.PERMANENT)
        try:
            check_url(block.url, using=ctx.outbound)
        except BlockedURL as exc:
            raise TriggerError(str(exc), FailureCategory.PERMANENT) from None
        body: dict[str, Any] = {"cause": render(block.cause, ctx)[:255]}
        if block.steps_override:
            body["steps_override"] = [render(step, ctx) for step in block.steps_override]
        if block.git_branch:
            body["git_branch"] = render(block.git_branch, ctx)
        data = _call("POST", block, f"/jobs/{block.job_id}/run/", "trigger", ctx, json=body)
        if "id" not in data:
            raise TriggerError("dbt-cloud trigger: answer has no run id", FailureCategory.TRANSIENT)
        return Started(False, {"dbt_cloud_run_id": str(data["id"]), "dbt_cloud_account_id": block.account_id})

    def status(self, config: TriggerConfig, metadata: dict[str, Any]) -> Status:
        block = config.dbt_cloud
        run_id = metadata.get("dbt_cloud_run_id")
        if block is None or not run_id:
            raise TriggerError("dbt-cloud status: run metadata lacks the dbt Cloud run id", FailureCategory.PERMANENT)
        data = _call("GET", block, f"/runs/{run_id}/", "status", None)
        code = data.get("status")
        name = str(data.get("status_humanized") or _NAMES.get(code, code)) if isinstance(code, int) else str(code)
        if code == _SUCCESS:
            return Status(JobState.SUCCEEDED, name)
        if code == _ERROR:
            detail = str(data.get("status_message") or "")
            return Status(JobState.FAILED, f"{name}: {excerpt(detail, 500)}" if detail else name)
        if code == _CANCELLED:  # someone cancelled it in dbt Cloud: retrying would undo that
            return Status(JobState.FAILED, name, FailureCategory.PERMANENT)
        if code not in _NAMES:
            raise TriggerError(f"dbt-cloud status: unknown run status {code!r}", FailureCategory.TRANSIENT)
        return Status(JobState.RUNNING, name)
