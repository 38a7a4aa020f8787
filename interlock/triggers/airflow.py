"""The ``airflow`` trigger: create a DAG run through Airflow's REST API and poll its state.

``apiVersion: 2`` (the default) speaks Airflow 3: ``/api/v2`` and ``logical_date: null``.
``apiVersion: 1`` speaks Airflow 2's ``/api/v1``. Three ways to authenticate (``AirflowTrigger.auth_mode``):
``token`` (``username``/``password``: on v2 a bearer token from ``POST /auth/token``, renewed on a 401;
on v1 basic auth), ``header`` (an ``Authorization`` header in ``headers``, such as a deployment's API
token, sent as is) and ``none`` (no credentials, for an Airflow that asks for none).

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
from interlock.model import AirflowAuth, FailureCategory, TriggerConfig
from interlock.model import AirflowTrigger as AirflowBlock
from interlock.netguard import BlockedURL, check_url
from interlock.redaction import excerpt
from interlock.triggers.base import JobState, Started, Status, TriggerContext, TriggerError, category_for_status
from interlock.triggers.calls import call
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
    assert block.username is not None  # auth_mode is TOKEN
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
    """One API call with the version's prefix and the block's auth; a v2 401 renews the token once."""
    prefix = "/api/v2" if block.api_version == 2 else "/api/v1"
    url = f"{_base(block)}{prefix}{path}"
    headers = {"Content-Type": "application/json", **render_map(block.headers, ctx)}
    timeout = float(block.timeout or DEFAULT_TIMEOUT)
    mode = block.auth_mode
    if mode is AirflowAuth.TOKEN and block.api_version == 1:
        kwargs["auth"] = (block.username or "", render(block.password or ""))
    renewing = mode is AirflowAuth.TOKEN and block.api_version == 2
    for attempt in range(2):
        if renewing:
            headers["Authorization"] = f"Bearer {_token(block, renew=attempt > 0)}"
        if ctx is not None:  # starting a run: connected to the address the project's policy was checked on
            response = netguard.request(method, url, using=ctx.outbound, headers=headers, timeout=timeout, **kwargs)
        else:
            response = httpx.request(method, url, headers=headers, timeout=timeout, **kwargs)
        if response.status_code != 401 or not renewing:
            break
    if response.status_code in (401, 403):
        raise TriggerError(f"airflow {method} {prefix}{path}: returned status {response.status_code} "
                           f"({_AUTH_HINTS[mode]}): {excerpt(response.text, 300)}", FailureCategory.PERMANENT)
    return response


# What to check when Airflow refuses the credentials, per auth mode.
_AUTH_HINTS = {
    AirflowAuth.TOKEN: "check username and password",
    AirflowAuth.HEADER: "check the Authorization header's token and its permissions",
    AirflowAuth.NONE: "this Airflow wants credentials: set username/password or an Authorization header",
}


class AirflowTrigger:
    idempotent_start = True  # the DAG run id is the run id: a second start is Airflow's 409

    def find(self, config: TriggerConfig, ctx: TriggerContext) -> Started | None:
        """The DAG run named after ``ctx.run_id``, or None if Airflow has none."""
        block = config.airflow
        if block is None:
            raise TriggerError("airflow trigger config is missing", FailureCategory.PERMANENT)
        try:
            response = _request("GET", block, f"/dags/{quote(block.dag_id, safe='')}/dagRuns/"
                                f"{quote(ctx.run_id, safe='')}", ctx)
        except httpx.HTTPError as exc:
            raise TriggerError(f"airflow lookup: request failed: {exc}", FailureCategory.TRANSIENT) from None
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise TriggerError(f"airflow lookup: returned status {response.status_code}: {excerpt(response.text, 500)}",
                               category_for_status(response.status_code))
        return Started(done=False, metadata={"airflow_dag_run_id": ctx.run_id, "airflow_dag_id": block.dag_id,
                                             "airflow_url": block.url})

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
        path = f"/dags/{quote(block.dag_id, safe='')}/dagRuns"
        response = call("airflow trigger", lambda: _request("POST", block, path, ctx, json=body),
                        quoted=QUOTED_ANSWER, timeouts=True, accept={409})
        metadata = {"airflow_dag_run_id": ctx.run_id, "airflow_dag_id": block.dag_id, "airflow_url": block.url}
        if response.status_code == 409:  # this DAG run already exists: it was started by us before
            return Started(done=False, metadata={**metadata, "airflowAlreadyStarted": True})
        return Started(done=False, metadata=metadata)

    def status(self, config: TriggerConfig, metadata: dict[str, Any]) -> Status:
        block = config.airflow
        run_id, dag_id = metadata.get("airflow_dag_run_id"), metadata.get("airflow_dag_id")
        if block is None or not run_id or not dag_id:
            raise TriggerError("airflow status: run metadata lacks the DAG run id", FailureCategory.PERMANENT)
        path = f"/dags/{quote(str(dag_id), safe='')}/dagRuns/{quote(str(run_id), safe='')}"
        response = call("airflow status", lambda: _request("GET", block, path, None), quoted=500)
        try:
            state = str(response.json()["state"])
        except (ValueError, KeyError, TypeError):
            raise TriggerError("airflow status: response missing state field", FailureCategory.TRANSIENT) from None
        if state == _SUCCESS:
            return Status(JobState.SUCCEEDED, state)
        if state == _FAILED:
            return Status(JobState.FAILED, state)
        return Status(JobState.RUNNING, state)
