"""The ``databricks`` trigger: run an existing job through the Jobs API 2.1 ``run-now``.

The run id is the ``idempotency_token`` (Databricks returns the existing run for a repeated
token), so a redelivered start cannot launch a second run. The reference called ``runs/submit``
with a body that API does not accept.
"""

from __future__ import annotations

from typing import Any

import httpx

from interlock import netguard
from interlock.model import FailureCategory, TriggerConfig
from interlock.netguard import BlockedURL, check_url
from interlock.triggers.base import (
    JobState,
    Started,
    Status,
    TriggerContext,
    TriggerError,
    bounded_token,
)
from interlock.triggers.calls import call
from interlock.triggers.template import render_map

# Databricks' limit on a run's idempotency_token (characters).
IDEMPOTENCY_TOKEN_MAX = 64

TIMEOUT = 30.0


def _headers(config: TriggerConfig, ctx: TriggerContext | None) -> dict[str, str]:
    assert config.databricks is not None
    return {"Content-Type": "application/json", **render_map(config.databricks.headers, ctx)}


class DatabricksTrigger:
    idempotent_start = True  # the idempotency_token is the run id: Databricks answers with the run it has

    def start(self, config: TriggerConfig, ctx: TriggerContext) -> Started:
        block = config.databricks
        assert block is not None
        base = block.workspace_url.rstrip("/")
        try:
            check_url(base, using=ctx.outbound)
        except BlockedURL as exc:
            raise TriggerError(str(exc), FailureCategory.PERMANENT) from None
        try:
            job_id: int | str = int(block.job_id)
        except ValueError:
            job_id = block.job_id
        body: dict[str, Any] = {"job_id": job_id, "idempotency_token": bounded_token(ctx.run_id, IDEMPOTENCY_TOKEN_MAX)}
        params = render_map(block.arguments, ctx)
        if params:
            body["notebook_params"] = params
        response = call("databricks trigger", lambda: netguard.request(
            "POST", f"{base}/api/2.1/jobs/run-now", using=ctx.outbound, json=body, headers=_headers(config, ctx),
            timeout=TIMEOUT), quoted=500)
        try:
            run_id = response.json()["run_id"]
        except (ValueError, KeyError, TypeError):
            raise TriggerError("databricks trigger: response missing run_id", FailureCategory.TRANSIENT) from None
        return Started(False, {"databricks_workspace_url": block.workspace_url, "databricks_run_id": str(run_id)})

    def status(self, config: TriggerConfig, metadata: dict[str, Any]) -> Status:
        base = str(metadata.get("databricks_workspace_url", "")).rstrip("/")
        run_id = metadata.get("databricks_run_id")
        if not base or not run_id:
            raise TriggerError("databricks status: run metadata lacks the run id", FailureCategory.PERMANENT)
        response = call("databricks status", lambda: httpx.get(f"{base}/api/2.1/jobs/runs/get",
                                                                 params={"run_id": run_id},
                                                                 headers=_headers(config, None), timeout=TIMEOUT))
        try:
            state = response.json()["state"]
            life = str(state.get("life_cycle_state", ""))
            result = str(state.get("result_state", "") or "")
        except (ValueError, KeyError, TypeError, AttributeError):
            raise TriggerError("databricks status: response missing state", FailureCategory.TRANSIENT) from None
        message = f"{life}/{result}" if result else life
        if life == "TERMINATED":
            return Status(JobState.SUCCEEDED if result == "SUCCESS" else JobState.FAILED, message)
        if life in ("SKIPPED", "INTERNAL_ERROR"):
            return Status(JobState.FAILED, message)
        return Status(JobState.RUNNING, message)
