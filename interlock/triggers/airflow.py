"""The ``airflow`` trigger: create a DAG run through Airflow's REST API and poll its state.

The DAG run id is the Interlock run id, so starting twice (a redelivered task) cannot make a
second DAG run: Airflow answers 409 for a duplicate id, which means "already started".
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx

from interlock.model import FailureCategory, TriggerConfig
from interlock.netguard import BlockedURL, check_url
from interlock.triggers.base import JobState, Started, Status, TriggerContext, TriggerError, category_for_status
from interlock.triggers.template import render, render_map

DEFAULT_TIMEOUT = 30.0
_SUCCESS, _FAILED = "success", "failed"


class AirflowTrigger:
    def _headers(self, config: TriggerConfig) -> dict[str, str]:
        assert config.airflow is not None
        return {"Content-Type": "application/json", **render_map(config.airflow.headers, None)}

    def start(self, config: TriggerConfig, ctx: TriggerContext) -> Started:
        block = config.airflow
        if block is None:
            raise TriggerError("airflow trigger config is missing", FailureCategory.PERMANENT)
        base = block.url.rstrip("/")
        try:
            check_url(base)
        except BlockedURL as exc:
            raise TriggerError(str(exc), FailureCategory.PERMANENT) from None
        body: dict[str, Any] = {"dag_run_id": ctx.run_id}
        if block.body:
            try:
                body["conf"] = json.loads(render(block.body, ctx))
            except ValueError as exc:
                raise TriggerError(f"airflow trigger: invalid body JSON: {exc}", FailureCategory.PERMANENT) from None
        url = f"{base}/api/v1/dags/{quote(block.dag_id, safe='')}/dagRuns"
        try:
            response = httpx.post(url, json=body, headers=self._headers(config),
                                  timeout=float(block.timeout or DEFAULT_TIMEOUT))
        except httpx.TimeoutException:
            raise TriggerError("airflow trigger: request timed out", FailureCategory.TIMEOUT) from None
        except httpx.HTTPError as exc:
            raise TriggerError(f"airflow trigger: request failed: {exc}", FailureCategory.TRANSIENT) from None
        metadata = {"airflow_dag_run_id": ctx.run_id, "airflow_dag_id": block.dag_id, "airflow_url": block.url}
        if response.status_code == 409:  # this DAG run already exists: it was started by us before
            return Started(done=False, metadata={**metadata, "airflowAlreadyStarted": True})
        if response.status_code >= 400:
            raise TriggerError(f"airflow trigger: returned status {response.status_code}: {response.text[:2000]}",
                               category_for_status(response.status_code))
        return Started(done=False, metadata=metadata)

    def status(self, config: TriggerConfig, metadata: dict[str, Any]) -> Status:
        run_id, dag_id = metadata.get("airflow_dag_run_id"), metadata.get("airflow_dag_id")
        base = str(metadata.get("airflow_url") or (config.airflow.url if config.airflow else "")).rstrip("/")
        if not run_id or not dag_id or not base:
            raise TriggerError("airflow status: run metadata lacks the DAG run id", FailureCategory.PERMANENT)
        url = f"{base}/api/v1/dags/{quote(str(dag_id), safe='')}/dagRuns/{quote(str(run_id), safe='')}"
        try:
            response = httpx.get(url, headers=self._headers(config) if config.airflow else {}, timeout=DEFAULT_TIMEOUT)
        except httpx.HTTPError as exc:
            raise TriggerError(f"airflow status: request failed: {exc}", FailureCategory.TRANSIENT) from None
        if response.status_code >= 400:
            raise TriggerError(f"airflow status: returned status {response.status_code}: {response.text[:500]}",
                               category_for_status(response.status_code))
        try:
            state = str(response.json()["state"])
        except (ValueError, KeyError, TypeError):
            raise TriggerError("airflow status: response missing state field", FailureCategory.TRANSIENT) from None
        if state == _SUCCESS:
            return Status(JobState.SUCCEEDED, state)
        if state == _FAILED:
            return Status(JobState.FAILED, state)
        return Status(JobState.RUNNING, state)
