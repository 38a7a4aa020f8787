"""The dbt-cloud trigger against a fake dbt Cloud that follows the Administrative API v2 contract:
``POST /api/v2/accounts/{account}/jobs/{job}/run/`` and ``GET .../runs/{id}/``, ``Authorization:
Token ...``, answers wrapped in ``{"status": {...}, "data": ...}``, run status codes 1/2/3/10/20/30."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from interlock.model import FailureCategory, TriggerConfig
from interlock.netguard import OutboundPolicy
from interlock.triggers import JobState, TriggerContext, TriggerError, trigger_for

CTX = TriggerContext("orders-daily-2026-03-02-1", "orders", "daily", "2026-03-02", Path("."),
                     template={"date": "2026-03-02"})
TOKEN = "dbtc_fake_service_token"


class FakeDbtCloud:
    """One account (12) with one job (34). Runs go 1 → 3 → ``final`` over status checks; a request
    whose path is in ``fail`` gets that status code instead."""

    def __init__(self, final: int = 10, message: str | None = None) -> None:
        self.runs: dict[int, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.fail: dict[str, int] = {}
        self.bare: set[str] = set()  # paths answered 200 with no data object
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, data: Any, message: str | None = None) -> None:
                body = json.dumps({"status": {"code": code, "is_success": code < 400, "user_message": message},
                                   "data": data}).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                      "body": json.loads(raw) if raw else None})
                if self.path in fake.bare:
                    return self._send(200, None)
                if self.path in fake.fail:
                    return self._send(fake.fail[self.path], None, "scripted failure")
                if self.headers.get("Authorization") != f"Token {TOKEN}":
                    return self._send(401, None, "Invalid token.")
                if self.command == "POST" and (m := re.fullmatch(r"/api/v2/accounts/12/jobs/(\d+)/run/", self.path)):
                    if m.group(1) != "34":
                        return self._send(404, None, "Job not found.")
                    run_id = 7000 + len(fake.runs)
                    fake.runs[run_id] = {"id": run_id, "job_id": 34, "status": 1, "checks": 0}
                    return self._send(200, {"id": run_id, "status": 1, "status_humanized": "Queued"})
                if self.command == "GET" and (m := re.fullmatch(r"/api/v2/accounts/12/runs/(\d+)/", self.path)):
                    run = fake.runs.get(int(m.group(1)))
                    if run is None:
                        return self._send(404, None, "Run not found.")
                    run["checks"] += 1
                    run["status"] = 3 if run["checks"] < 2 else final
                    names = {3: "Running", 10: "Success", 20: "Error", 30: "Cancelled"}
                    return self._send(200, {"id": run["id"], "status": run["status"],
                                            "status_humanized": names[run["status"]],
                                            "status_message": message if run["status"] == 20 else None})
                self._send(404, None, "Not found.")

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def dbt(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDbtCloud]:
    monkeypatch.setenv("INTERLOCK_DBT_CLOUD_TOKEN", TOKEN)
    fake = FakeDbtCloud()
    yield fake
    fake.stop()


def config(url: str, **extra: Any) -> TriggerConfig:
    return TriggerConfig.model_validate({"type": "dbt-cloud", "dbt_cloud": {
        "url": url, "account_id": "12", "job_id": "34", "token": "${INTERLOCK_DBT_CLOUD_TOKEN}", **extra}})


def poll(cfg: TriggerConfig, metadata: dict[str, Any]) -> list[tuple[JobState, str]]:
    seen = []
    for _ in range(5):
        status = trigger_for(cfg.type).status(cfg, metadata)
        seen.append((status.state, status.message))
        if status.state is not JobState.RUNNING:
            break
    return seen


def test_a_job_run_is_triggered_with_the_run_id_in_its_cause_and_polled_to_success(dbt: FakeDbtCloud) -> None:
    cfg = config(dbt.url, steps_override=["dbt build --select tag:orders --vars '{date: ${date}}'"],
                 gitBranch="main")
    started = trigger_for(cfg.type).start(cfg, CTX)
    assert started.done is False
    assert started.metadata == {"dbt_cloud_run_id": "7000", "dbt_cloud_account_id": "12"}
    (request,) = dbt.requests
    assert (request["method"], request["path"]) == ("POST", "/api/v2/accounts/12/jobs/34/run/")
    assert request["headers"]["Authorization"] == f"Token {TOKEN}"
    assert request["body"] == {"cause": "Triggered by Interlock run orders-daily-2026-03-02-1",
                               "steps_override": ["dbt build --select tag:orders --vars '{date: 2026-03-02}'"],
                               "git_branch": "main"}
    assert poll(cfg, started.metadata) == [(JobState.RUNNING, "Running"), (JobState.SUCCEEDED, "Success")]
    assert dbt.requests[-1]["path"] == "/api/v2/accounts/12/runs/7000/"


@pytest.mark.parametrize(("final", "message", "expected"), [
    (20, "Database Error in model orders", (JobState.FAILED, "Error: Database Error in model orders", None)),
    (30, None, (JobState.FAILED, "Cancelled", FailureCategory.PERMANENT)),
])
def test_an_errored_or_cancelled_run_fails_with_dbt_clouds_message(
        monkeypatch: pytest.MonkeyPatch, final: int, message: str | None,
        expected: tuple[JobState, str, FailureCategory | None]) -> None:
    monkeypatch.setenv("INTERLOCK_DBT_CLOUD_TOKEN", TOKEN)
    fake = FakeDbtCloud(final=final, message=message)
    try:
        cfg = config(fake.url)
        started = trigger_for(cfg.type).start(cfg, CTX)
        trigger_for(cfg.type).status(cfg, started.metadata)  # Running
        status = trigger_for(cfg.type).status(cfg, started.metadata)
        assert (status.state, status.message, status.category) == expected
    finally:
        fake.stop()


@pytest.mark.parametrize(("code", "category", "hint"), [
    (401, FailureCategory.PERMANENT, "check the token"),
    (403, FailureCategory.PERMANENT, "lacks permission"),
    (404, FailureCategory.PERMANENT, "check account_id and job_id"),
    (409, FailureCategory.PERMANENT, ""),
    (429, FailureCategory.TRANSIENT, ""),
    (500, FailureCategory.TRANSIENT, ""),
    (503, FailureCategory.TRANSIENT, ""),
])
def test_each_error_answer_maps_to_its_failure_category(dbt: FakeDbtCloud, code: int, category: FailureCategory,
                                                        hint: str) -> None:
    dbt.fail["/api/v2/accounts/12/jobs/34/run/"] = code
    cfg = config(dbt.url)
    with pytest.raises(TriggerError, match=f"returned status {code}") as exc:
        trigger_for(cfg.type).start(cfg, CTX)
    assert exc.value.category is category
    assert hint in str(exc.value)


def test_a_wrong_token_is_refused_by_dbt_cloud_and_the_token_never_shows_in_the_error(
        monkeypatch: pytest.MonkeyPatch, dbt: FakeDbtCloud) -> None:
    monkeypatch.setenv("INTERLOCK_DBT_CLOUD_TOKEN", "dbtc_wrong_token_value")
    cfg = config(dbt.url)
    with pytest.raises(TriggerError) as exc:
        trigger_for(cfg.type).start(cfg, CTX)
    assert exc.value.category is FailureCategory.PERMANENT and "check the token" in str(exc.value)
    assert "dbtc_wrong_token_value" not in str(exc.value)


def test_a_status_check_of_a_run_dbt_cloud_does_not_know_is_permanent(dbt: FakeDbtCloud) -> None:
    cfg = config(dbt.url)
    with pytest.raises(TriggerError, match="returned status 404") as exc:
        trigger_for(cfg.type).status(cfg, {"dbt_cloud_run_id": "999"})
    assert exc.value.category is FailureCategory.PERMANENT


def test_an_answer_without_data_is_transient(dbt: FakeDbtCloud) -> None:
    dbt.bare.add("/api/v2/accounts/12/jobs/34/run/")
    cfg = config(dbt.url)
    with pytest.raises(TriggerError, match="answer has no data object") as exc:
        trigger_for(cfg.type).start(cfg, CTX)
    assert exc.value.category is FailureCategory.TRANSIENT


def test_a_url_the_outbound_policy_blocks_is_never_called(dbt: FakeDbtCloud) -> None:
    cfg = config("http://169.254.169.254")
    ctx = TriggerContext(CTX.run_id, "orders", "daily", "2026-03-02", Path("."), OutboundPolicy())
    with pytest.raises(TriggerError) as exc:
        trigger_for(cfg.type).start(cfg, ctx)
    assert exc.value.category is FailureCategory.PERMANENT
    assert dbt.requests == []


@pytest.mark.parametrize(("block", "field", "reason"), [
    ({"account_id": "12a"}, "account_id", "not a numeric id"),
    ({"job_id": ""}, "job_id", "not a numeric id"),
    ({"token": "dbtc_literal_token"}, "token", "not the token itself"),
    ({"steps_override": [""]}, "steps_override", "at least 1 character"),
])
def test_bad_blocks_are_refused_at_load(block: dict[str, Any], field: str, reason: str) -> None:
    data = {"account_id": "12", "job_id": "34", "token": "${INTERLOCK_DBT_CLOUD_TOKEN}", **block}
    with pytest.raises(ValueError, match=reason) as exc:
        TriggerConfig.model_validate({"type": "dbt-cloud", "dbt_cloud": data})
    assert field in str(exc.value)
