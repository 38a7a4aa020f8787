"""http, airflow and databricks triggers against real HTTP servers on 127.0.0.1; templating; SSRF."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from interlock.demo.fake_airflow import FakeAirflow
from interlock.model import FailureCategory, TriggerConfig
from interlock.triggers import JobState, TriggerContext, TriggerError, trigger_for
from interlock.triggers.template import render

CTX = TriggerContext("orders-h07-2026-03-02-1", "orders", "h07", "2026-03-02", Path("."))


class Scripted:
    """Answers each request with the next scripted (status, body); records what it received."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, Any]] = []
        self.requests: list[dict[str, Any]] = []
        me = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                me.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                    "body": json.loads(raw) if raw.startswith(b"{") else raw.decode()})
                code, body = me.answers.pop(0) if me.answers else (200, {})
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def server() -> Iterator[Scripted]:
    s = Scripted()
    yield s
    s.server.shutdown()
    s.server.server_close()


def cfg(data: dict[str, Any]) -> TriggerConfig:
    return TriggerConfig.model_validate(data)


def test_templating_replaces_run_facts_and_interlock_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_TOKEN", "s3cret")
    monkeypatch.setenv("HOME", "/root")
    text = "${date} ${hour} ${scheduleId} ${pipelineId} ${runId} ${INTERLOCK_TOKEN} ${HOME}"
    assert render(text, CTX) == "2026-03-02 07 h07 orders orders-h07-2026-03-02-1 s3cret ${HOME}"


def test_an_unset_interlock_variable_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(TriggerError, match="INTERLOCK_MISSING is not set") as exc:
        render("Bearer ${INTERLOCK_MISSING}", CTX)
    assert exc.value.category is FailureCategory.PERMANENT


def test_http_trigger_sends_the_run_id_as_idempotency_key_and_templated_body(server: Scripted) -> None:
    config = cfg({"type": "http", "http": {"url": server.url + "/start/${pipelineId}",
                                           "body": '{"date": "${date}"}'}})
    started = trigger_for(config.type).start(config, CTX)
    (request,) = server.requests
    assert request["path"] == "/start/orders"
    assert request["headers"]["Idempotency-Key"] == CTX.run_id
    assert request["body"] == {"date": "2026-03-02"}
    assert started.done is False


@pytest.mark.parametrize(("code", "category"), [(400, FailureCategory.PERMANENT), (404, FailureCategory.PERMANENT),
                                                 (429, FailureCategory.TRANSIENT), (500, FailureCategory.TRANSIENT),
                                                 (503, FailureCategory.TRANSIENT)])
def test_http_trigger_failures_are_classified_by_status(server: Scripted, code: int,
                                                        category: FailureCategory) -> None:
    server.answers = [(code, {"error": "x"})]
    config = cfg({"type": "http", "http": {"url": server.url + "/start"}})
    with pytest.raises(TriggerError) as exc:
        trigger_for(config.type).start(config, CTX)
    assert exc.value.category is category


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest", "http://[fe80::1]/start"])
def test_triggers_refuse_link_local_and_metadata_addresses(url: str) -> None:
    for config in (cfg({"type": "http", "http": {"url": url}}),
                   cfg({"type": "airflow", "airflow": {"url": url, "dag_id": "d"}}),
                   cfg({"type": "databricks", "databricks": {"workspace_url": url, "job_id": "1"}})):
        with pytest.raises(TriggerError) as exc:
            trigger_for(config.type).start(config, CTX)
        assert exc.value.category is FailureCategory.PERMANENT


def test_airflow_second_start_of_the_same_run_is_recognised_not_repeated() -> None:
    airflow = FakeAirflow(polls_until_success=2).start()
    try:
        config = cfg({"type": "airflow", "airflow": {"url": airflow.url, "dag_id": "nightly", "apiVersion": 1}})
        trigger = trigger_for(config.type)
        first = trigger.start(config, CTX)
        second = trigger.start(config, CTX)
        assert first.metadata["airflow_dag_run_id"] == second.metadata["airflow_dag_run_id"] == CTX.run_id
        assert second.metadata.get("airflowAlreadyStarted") is True
        assert list(airflow.runs) == [CTX.run_id]
        assert trigger.status(config, first.metadata).state is JobState.RUNNING
        assert trigger.status(config, first.metadata).state is JobState.SUCCEEDED
    finally:
        airflow.stop()


def test_databricks_runs_the_job_now_with_an_idempotency_token(server: Scripted) -> None:
    server.answers = [(200, {"run_id": 12345})]
    config = cfg({"type": "databricks", "databricks": {"workspace_url": server.url, "job_id": "77",
                                                       "arguments": {"date": "${date}"},
                                                       "headers": {"Authorization": "Bearer t"}}})
    started = trigger_for(config.type).start(config, CTX)
    (request,) = server.requests
    assert request["path"] == "/api/2.1/jobs/run-now"
    assert request["body"] == {"job_id": 77, "idempotency_token": CTX.run_id, "notebook_params": {"date": "2026-03-02"}}
    assert request["headers"]["Authorization"] == "Bearer t"
    assert started.metadata == {"databricks_workspace_url": server.url, "databricks_run_id": "12345"}


@pytest.mark.parametrize(("state", "expected", "message"), [
    ({"life_cycle_state": "RUNNING"}, JobState.RUNNING, "RUNNING"),
    ({"life_cycle_state": "PENDING"}, JobState.RUNNING, "PENDING"),
    ({"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"}, JobState.SUCCEEDED, "TERMINATED/SUCCESS"),
    ({"life_cycle_state": "TERMINATED", "result_state": "FAILED"}, JobState.FAILED, "TERMINATED/FAILED"),
    ({"life_cycle_state": "SKIPPED"}, JobState.FAILED, "SKIPPED"),
    ({"life_cycle_state": "INTERNAL_ERROR"}, JobState.FAILED, "INTERNAL_ERROR"),
])
def test_databricks_status_mapping(server: Scripted, state: dict[str, str], expected: JobState, message: str) -> None:
    server.answers = [(200, {"state": state})]
    config = cfg({"type": "databricks", "databricks": {"workspace_url": server.url, "job_id": "77"}})
    status = trigger_for(config.type).status(config, {"databricks_workspace_url": server.url,
                                                      "databricks_run_id": "12345"})
    assert (status.state, status.message) == (expected, message)
    assert server.requests[0]["path"] == "/api/2.1/jobs/runs/get?run_id=12345"


def test_airflow_3_gets_a_token_and_sends_logical_date_null(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_AIRFLOW_PASSWORD", "admin")
    airflow = FakeAirflow(polls_until_success=1).start()
    try:
        config = cfg({"type": "airflow", "airflow": {"url": airflow.url, "dag_id": "nightly", "username": "admin",
                                                     "password": "${INTERLOCK_AIRFLOW_PASSWORD}"}})
        assert config.airflow is not None and config.airflow.api_version == 2
        started = trigger_for(config.type).start(config, CTX)
        token, created = airflow.posts("/auth/token")[0], airflow.posts("/api/v2/dags/nightly/dagRuns")[0]
        assert token["body"] == {"username": "admin", "password": "admin"}
        assert created["body"] == {"dag_run_id": CTX.run_id, "logical_date": None}
        assert created["headers"]["Authorization"] == f"Bearer {FakeAirflow.TOKEN}"
        assert trigger_for(config.type).status(config, started.metadata).state is JobState.SUCCEEDED
    finally:
        airflow.stop()


def test_airflow_3_with_a_static_api_token_sends_it_as_is_and_never_asks_for_a_token(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_AIRFLOW_TOKEN", "deployment-api-token")
    airflow = FakeAirflow(polls_until_success=1, api_token="deployment-api-token").start()
    try:
        config = cfg({"type": "airflow", "airflow": {
            "url": airflow.url, "dag_id": "nightly",
            "headers": {"Authorization": "Bearer ${INTERLOCK_AIRFLOW_TOKEN}"}}})
        assert config.airflow is not None and config.airflow.auth_mode == "header"
        started = trigger_for(config.type).start(config, CTX)
        assert trigger_for(config.type).status(config, started.metadata).state is JobState.SUCCEEDED
        assert airflow.posts("/auth/token") == []
        (created,) = airflow.posts("/api/v2/dags/nightly/dagRuns")
        assert created["headers"]["Authorization"] == "Bearer deployment-api-token"
    finally:
        airflow.stop()


def test_airflow_3_with_no_credentials_sends_none() -> None:
    airflow = FakeAirflow(polls_until_success=1, open_access=True).start()
    try:
        config = cfg({"type": "airflow", "airflow": {"url": airflow.url, "dag_id": "nightly"}})
        assert config.airflow is not None and config.airflow.auth_mode == "none"
        started = trigger_for(config.type).start(config, CTX)
        assert trigger_for(config.type).status(config, started.metadata).state is JobState.SUCCEEDED
        assert airflow.posts("/auth/token") == []
        assert "Authorization" not in airflow.posts("/api/v2/dags/nightly/dagRuns")[0]["headers"]
    finally:
        airflow.stop()


@pytest.mark.parametrize(("airflow_block", "hint"), [
    ({}, "wants credentials: set username/password or an Authorization header"),
    ({"headers": {"Authorization": "Bearer wrong"}}, "check the Authorization header"),
])
def test_airflow_3_refusing_the_credentials_is_a_permanent_failure_that_says_what_to_check(
        airflow_block: dict[str, Any], hint: str) -> None:
    airflow = FakeAirflow().start()
    try:
        config = cfg({"type": "airflow", "airflow": {"url": airflow.url, "dag_id": "nightly", **airflow_block}})
        with pytest.raises(TriggerError, match="returned status 401") as exc:
            trigger_for(config.type).start(config, CTX)
        assert exc.value.category is FailureCategory.PERMANENT
        assert hint in str(exc.value)
        assert airflow.posts("/auth/token") == []
    finally:
        airflow.stop()


def test_airflow_2_with_username_and_password_uses_basic_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_AIRFLOW_PASSWORD", "s3cret")
    airflow = FakeAirflow().start()
    try:
        config = cfg({"type": "airflow", "airflow": {"url": airflow.url, "dag_id": "nightly", "apiVersion": 1,
                                                     "username": "admin", "password": "${INTERLOCK_AIRFLOW_PASSWORD}"}})
        trigger_for(config.type).start(config, CTX)
        (created,) = airflow.posts("/api/v1/dags/nightly/dagRuns")
        assert created["headers"]["Authorization"] == "Basic YWRtaW46czNjcmV0"  # admin:s3cret
        assert airflow.posts("/auth/token") == []
    finally:
        airflow.stop()


@pytest.mark.parametrize(("airflow_block", "reason"), [
    ({"username": "admin"}, "username and password go together"),
    ({"password": "x"}, "username and password go together"),
    ({"username": "a", "password": "b", "headers": {"authorization": "Bearer t"}},
     "either username/password or an Authorization header"),
])
def test_airflow_auth_settings_that_contradict_each_other_are_refused(airflow_block: dict[str, Any],
                                                                      reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        cfg({"type": "airflow", "airflow": {"url": "http://a", "dag_id": "d", **airflow_block}})
