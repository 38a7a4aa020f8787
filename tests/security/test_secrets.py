"""A ``${INTERLOCK_*}`` secret in a trigger never shows up anywhere Interlock records or serves.

The pipeline's HTTP trigger carries the secret in its URL, a header and its body; the command
trigger's shell prints it. Then the start fails in the ways that put the request back into an
error message: the target echoes the request in a 400, the target is unreachable, it times out, the
URL is refused, the command exits non-zero with the secret in its output. The run goes through the
API (``POST /run``), fails for good and raises an alert, sent to a webhook sink on 127.0.0.1.
Afterwards the secret is in none of: the events, the run, the run log, the stored alerts, the
webhook payload, the console and file sinks, any log record (httpx logs request URLs), and the
API's answers — while the target did receive it, and the failure message shows ``[REDACTED]``.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from fastapi.testclient import TestClient
from pydantic_core import to_jsonable_python

from interlock.alerts import AlertDispatcher
from interlock.alerts.console import ConsoleSink
from interlock.alerts.file import FileSink
from interlock.alerts.webhook import WebhookSink
from interlock.api.app import create_app
from interlock.model import Alert, AlertLevel, RunStatus
from interlock.redaction import REDACTED, redact, remember
from interlock.steps.dispatch import RecordingDispatcher
from interlock.store.redis import RedisStore
from tests.steps.conftest import Harness

pytestmark = pytest.mark.integration


class Echo:
    """An HTTP target on 127.0.0.1 that answers with the whole request it got (path, headers, body).

    ``/webhook`` collects alert payloads instead; ``/slow`` answers after 3 s.
    """

    def __init__(self, status: int) -> None:
        self.status = status
        self.seen: list[str] = []
        self.alerts: list[Any] = []
        me = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if self.path == "/webhook":
                    me.alerts.append(json.loads(body))
                    self._reply(200, b"")
                    return
                echoed = f"{self.command} {self.path}\n{self.headers}\n{body}"
                me.seen.append(echoed)
                if self.path.startswith("/slow"):
                    time.sleep(3)
                self._reply(me.status, f"bad request, you sent: {echoed}".encode())

            def _reply(self, status: int, data: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (the timeout case)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def echo() -> Iterator[Echo]:
    e = Echo(400)
    yield e
    e.server.shutdown()
    e.server.server_close()


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    value = f"tok_{uuid.uuid4().hex}"
    monkeypatch.setenv("INTERLOCK_API_TOKEN", value)
    return value


def http_trigger(url: str, timeout: int = 5) -> str:
    return ("trigger:\n  type: http\n  http:\n"
            f"    url: '{url}?token=${{INTERLOCK_API_TOKEN}}'\n"
            "    headers: {Authorization: 'Bearer ${INTERLOCK_API_TOKEN}'}\n"
            "    body: '{\"token\": \"${INTERLOCK_API_TOKEN}\", \"date\": \"${date}\"}'\n"
            f"    timeout: {timeout}\n")


SCENARIOS = {
    # name: (trigger block, given the echo server's URL; the target receives the request)
    "target echoes the request in a 400": (lambda url: http_trigger(url + "/start"), True),
    "target unreachable": (lambda url: http_trigger("http://127.0.0.1:9/start"), False),
    "target times out": (lambda url: http_trigger(url + "/slow", timeout=1), True),
    "url refused by the guard": (lambda url: http_trigger("ftp://127.0.0.1/start"), False),
    "command prints it and fails": (lambda url: (
        "trigger:\n  type: command\n  command:\n    shell: true\n"
        "    command: 'echo \"calling with ${INTERLOCK_API_TOKEN}\"; exit 3'\n"), False),
    # The output's last 2 000 characters hold only the secret's tail: cut before redaction, it leaked.
    "command output ends with the secret and 1 990 more characters": (lambda url: (
        "trigger:\n  type: command\n  command:\n    shell: true\n"
        "    command: 'printf %s \"${INTERLOCK_API_TOKEN}\"; head -c 1990 /dev/zero | tr \"\\0\" -; exit 3'\n"),
        False),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_trigger_secret_appears_in_no_record_alert_log_or_answer(
        harness: Harness, echo: Echo, secret: str, scenario: str, caplog: pytest.LogCaptureFixture,
        tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    block, reaches_target = SCENARIOS[scenario]
    harness.archetype("checked", ["t1"])
    harness.pipeline("orders", "checked", {"t1": "pass"}, extra=block(echo.url) + "retry: {maxAttempts: 1}\n")
    deps = harness.deps()
    console = io.StringIO()
    alerts_file = tmp_path / "alerts.jsonl"
    deps.alerts = AlertDispatcher(harness.store, [WebhookSink(echo.url + "/webhook"), ConsoleSink(console),
                                                  FileSink(alerts_file)])
    deps.dispatch = RecordingDispatcher()
    client = TestClient(create_app(deps))

    client.post("/api/pipelines/orders/run")

    (run,) = harness.store.list_runs("orders")
    assert run.status is RunStatus.FAILED
    failure = str(run.metadata["failure"])
    if scenario in ("target echoes the request in a 400", "command prints it and fails"):
        assert REDACTED in failure, failure  # the error did carry the secret: it was taken out
    if reaches_target:
        assert any(secret in request for request in echo.seen)  # the target itself did get it
    assert len(echo.alerts) == 1, "the give-up alert reached the webhook sink"

    recorded = {
        "events": [r.event for r in harness.store.list_events("orders", 500)],
        "runs": harness.store.list_runs("orders"),
        "run logs": harness.store.list_run_logs("orders"),
        "alerts": harness.store.list_alerts("orders"),
        "webhook payloads": echo.alerts,
        "console sink": console.getvalue(),
        "file sink": alerts_file.read_text(),
    }
    for what, value in recorded.items():
        text = value if isinstance(value, str) else json.dumps(to_jsonable_python(value, by_alias=True))
        assert text.strip(), f"{what} is empty: the check would prove nothing"
        assert secret not in text, f"the secret leaked into {what}"
        assert secret[:10] not in text and secret[-10:] not in text, f"a piece of the secret leaked into {what}"

    period = run.metadata["period"]
    for path in ("/api/pipelines/orders/runs", f"/api/runs/{run.run_id}", "/api/pipelines/orders/events",
                 "/api/pipelines/orders/runlogs", f"/api/pipelines/orders/runlogs/{period}",
                 "/api/pipelines/orders/readiness", "/api/pipelines/orders", "/", "/metrics"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert secret not in response.text, f"the secret leaked into GET {path}"
        assert secret[-10:] not in response.text, f"a piece of the secret leaked into GET {path}"

    for record in caplog.records:
        assert secret not in record.getMessage(), f"the secret leaked into the log: {record.getMessage()[:300]}"
        assert secret not in (record.exc_text or ""), "the secret leaked into a logged traceback"
    assert secret not in caplog.text


def test_redaction_covers_the_escaped_spellings_of_a_secret() -> None:
    value = f"p@ss word/{uuid.uuid4().hex[:8]}+\"x\""
    remember(value)
    for spelling in (value, quote(value, safe=""), quote(value), quote_plus(value), json.dumps(value)[1:-1]):
        assert redact(f"url=https://x/?t={spelling}&y=1") == f"url=https://x/?t={REDACTED}&y=1", spelling


def test_short_values_are_not_treated_as_secrets() -> None:
    remember("abc")
    assert redact("abc abcd") == "abc abcd"


def test_a_webhook_url_stays_out_of_errors_and_logs(echo: Echo, store: RedisStore,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    # A Slack-style hook URL is a credential by itself: its path must not reach the logs.
    caplog.set_level(logging.DEBUG)
    hook_path = f"/services/T0001/B0001/{uuid.uuid4().hex}"
    dispatcher = AlertDispatcher(store, [WebhookSink(echo.url + hook_path)])
    alert = Alert(level=AlertLevel.ERROR, alert_type="stuck_run", pipeline_id="orders", message="stuck",
                  timestamp=datetime(2026, 3, 1, tzinfo=UTC))
    echo.status = 500  # the target fails (and echoes the path): the dispatcher logs the sink's error
    assert dispatcher.fire(alert) and dispatcher.failed == 1
    echo.status = 200  # delivered: httpx logs the request URL at INFO
    assert dispatcher.fire(alert) and dispatcher.sent == 1
    assert sum(hook_path in request for request in echo.seen) == 3  # the hook itself got the full URL
    assert "webhook returned status 500" in caplog.text and "HTTP Request: POST" in caplog.text
    assert hook_path not in caplog.text
    for record in caplog.records:
        assert hook_path not in record.getMessage() and hook_path not in (record.exc_text or "")


def test_a_webhook_url_is_redacted_whole_but_a_short_path_alone_is_not() -> None:
    url = "http://127.0.0.1:9/alerts"
    WebhookSink(url)
    assert redact(f"POST {url} failed") == f"POST {REDACTED} failed"
    ordinary = "trigger request to http://jobs.internal/alerts/start failed"
    assert redact(ordinary) == ordinary
