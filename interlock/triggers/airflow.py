"""The ``airflow`` trigger: create a DAG run through Airflow's REST API and poll its state.

``apiVersion: 2`` (the default) speaks Airflow 3: ``/api/v2``, a bearer token obtained from
``POST /auth/token`` with ``username``/``password`` and renewed on a 401, ``logical_date: null``.
``apiVersion: 1`` speaks Airflow 2's ``/api/v1`` with the configured headers (basic auth etc.).

The DAG run id is the Interlock run id, so starting twice (a redelivered task) cannot make a
second DAG run: Airflow answers 409 for a duplicate id, which means "already started".
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import quote

import httpx

from interlock import netguard
from interlock.model import AirflowTrigger as AirflowBlock
from interlock.model import FailureCategory, TriggerConfig
from interlock.netguard import BlockedURL, check_url
from interlock.redaction import excerpt
from interlock.triggers.base import JobState, Started, Status, TriggerContext, TriggerError, category_for_status
from interlock.triggers.template import render, render_map

DEFAULT_TIMEOUT = 30.0
# Characters of a failed start's answer quoted in the failure message.
QUOTED_ANSWER = 2000
_SUCCESS, _FAILED = "success", "failed"

# Bearer tokens per (Airflow URL, user), shared by the threads of a worker process.
_tokens: dict[tuple[str, str], str] = {}
_tokens_lock = threading.Lock()


def _base(block: AirflowBlock) -> str:
    return block.url.rstrip("/")


def _token(block: AirflowBlock, renew: bool = False) -> str:
    if not block.username:
        raise TriggerError("airflow trigger: apiVersion 2 needs username and password (for POST /auth/token)",
                           FailureCategory.PERMANENT)
    key = (_base(block), block.username)
    with _tokens_lock:
        if not renew and key in _tokens:
            return _tokens[key]
    try:
        response = httpx.post(f"{_base(block)}/auth/token", timeout=DEFAULT_TIMEOUT,
                              json={"username": block.username, "password": render(block.password or "")})
    except httpx.HTTPError as exc:
        raise TriggerError(f"airflow auth: request failed: {exc}", FailureCategory.TRANSIENT) from None
    if response.status_code >= 400:
        raise TriggerError(f"airflow auth: POST /auth/token returned status {response.status_code}: "
                           f"{excerpt(response.text, 300)}", category_for_status(response.status_code))
    try:
        token = str(response.json()["access_token"])
    except (ValueError, KeyError, TypeError):
        raise TriggerError("airflow auth: response has no access_token", FailureCategory.TRANSIENT) from None
    with _tokens_lock:
        _tokens[key] = token
    return token


def _request(method: str, block: AirflowBlock, path: str, ctx: TriggerContext | None, **kwargs: Any) -> httpx.Response:
    """One API call with the version's prefix and auth; a v2 401 renews the token once."""
    prefix = "/api/v2" if block.api_version == 2 else "/api/v1"
    url = f"{_base(block)}{prefix}{path}"
    headers = {"Content-Type": "application/json", **render_map(block.headers, ctx)}
    timeout = float(block.timeout or DEFAULT_TIMEOUT)
    for attempt in range(2):
        if block.api_version == 2:
            headers["Authorization"] = f"Bearer {_token(block, renew=attempt > 0)}"
        if ctx is not None:  # starting a run: connected to the address the project's policy was checked on
            response = netguard.request(method, url, using=ctx.outbound, headers=headers, timeout=timeout, **kwargs)
        else:
            response = httpx.request(method, url, headers=headers, timeout=timeout, **kwargs)
        if response.status_code != 401 or block.api_version != 2:
            return response
    return response


class AirflowTrigger:
    def start(self, config: TriggerConfig, ctx: TriggerContext) -> Started:
        block = config.airflow
        if block is None:
            raise TriggerError("airflow trigger config is missing", FailureCategory.PERMANENT)
        try:
            check_url(_base(block), using=ctx.outbound)
        except BlockedURL as exc:
            raise TriggerError(str(exc), FailureCategory.PERMANENT) from None
        body: dict[str, Any] = {"dag_run_id": ctx.run_id}
        if block.api_version == 2:
            body["logical_date"] = None
        if block.body:
            try:
                body["conf"] = json.loads(render(block.body, ctx))
            except ValueError as exc:
                raise TriggerError(f"airflow trigger: invalid body JSON: {exc}", FailureCategory.PERMANENT) from None
        try:
            response = _request("POST", block, f"/dags/{quote(block.dag_id, safe='')}/dagRuns", ctx, json=body)
        except httpx.TimeoutException:
            raise TriggerError("airflow trigger: request timed out", FailureCategory.TIMEOUT) from None
        except httpx.HTTPError as exc:
            raise TriggerError(f"airflow trigger: request failed: {exc}", FailureCategory.TRANSIENT) from None
        metadata = {"airflow_dag_run_id": ctx.run_id, "airflow_dag_id": block.dag_id, "airflow_url": block.url}
        if response.status_code == 409:  # this DAG run already exists: it was started by us before
            return Started(done=False, metadata={**metadata, "airflowAlreadyStarted": True})
        if response.status_code >= 400:
            raise TriggerError(f"airflow trigger: returned status {response.status_code}: "
                               f"{excerpt(response.text, QUOTED_ANSWER)}",
                               category_for_status(response.status_code))
        return Started(done=False, metadata=metadata)

    def status(self, config: TriggerConfig, metadata: dict[str, Any]) -> Status:
        block = config.airflow
        run_id, dag_id = metadata.get("airflow_dag_run_id"), metadata.get("airflow_dag_id")
        if block is None or not run_id or not dag_id:
            raise TriggerError("airflow status: run metadata lacks the DAG run id", FailureCategory.PERMANENT)
        try:
            response = _request("GET", block, f"/dags/{quote(str(dag_id), safe='')}/dagRuns/"
                                f"{quote(str(run_id), safe='')}", None)
        except httpx.HTTPError as exc:
            raise TriggerError(f"airflow status: request failed: {exc}", FailureCategory.TRANSIENT) from None
        if response.status_code >= 400:
            raise TriggerError(f"airflow status: returned status {response.status_code}: {excerpt(response.text, 500)}",
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
