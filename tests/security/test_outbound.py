"""The SSRF guard where tests/test_netguard.py and the trigger/evaluator/sink tests do not reach.

Already covered elsewhere: the policy itself (tests/test_netguard.py), HTTP evaluators refusing
metadata/link-local URLs with no request made and not following redirects
(tests/evaluators/test_http.py), triggers refusing them (tests/triggers/test_http_triggers.py), a
webhook sink refusing them when built (tests/alerts/test_sinks.py). Here: a webhook in
``interlock.yaml`` is refused at load, a templated trigger URL is judged after templating, and
neither webhooks nor HTTP triggers follow a redirect (the way round a guard that checks only the
first URL).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from interlock.alerts.webhook import WebhookSink
from interlock.config import ConfigInvalid, load_project
from interlock.model import Alert, AlertLevel, FailureCategory, TriggerConfig
from interlock.triggers import TriggerContext, TriggerError, trigger_for
from tests.conftest import MINIMAL_CONFIG, ProjectFactory

CTX = TriggerContext("orders-daily-2026-03-01-1", "orders", "daily", "2026-03-01", Path("."))
METADATA_URLS = ["http://169.254.169.254/latest/meta-data/iam/security-credentials/",
                 "http://[::ffff:169.254.169.254]/", "http://2852039166/", "http://metadata.google.internal/"]


class Redirector:
    """``/go`` answers 302 to ``/landing``; records every path asked for."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        me = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                me.paths.append(self.path)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(302 if self.path == "/go" else 200)
                self.send_header("Location", me.url + "/landing")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def redirector() -> Iterator[Redirector]:
    r = Redirector()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.mark.parametrize("url", METADATA_URLS)
def test_a_webhook_sink_to_a_metadata_address_is_a_config_error(make_project: ProjectFactory, url: str) -> None:
    path = make_project(MINIMAL_CONFIG + f"alerts:\n  - {{type: webhook, url: '{url}'}}\n")
    with pytest.raises(ConfigInvalid) as exc:
        load_project(path, env={})
    (error,) = exc.value.errors
    assert error.file.endswith("interlock.yaml") and error.path == "alerts[0].url"
    assert "refusing" in error.message and "allowHosts" in error.message


def test_a_templated_trigger_url_is_judged_after_templating(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_TARGET_HOST", "169.254.169.254")
    config = TriggerConfig.model_validate({"type": "http", "http": {"url": "http://${INTERLOCK_TARGET_HOST}/start"}})
    with pytest.raises(TriggerError) as exc:
        trigger_for(config.type).start(config, CTX)
    assert exc.value.category is FailureCategory.PERMANENT and "link-local / metadata" in str(exc.value)


def test_a_webhook_does_not_follow_a_redirect(redirector: Redirector) -> None:
    sink = WebhookSink(redirector.url + "/go")
    sink.send(Alert(level=AlertLevel.ERROR, alert_type="stuck_run", pipeline_id="orders", message="stuck",
                    timestamp=datetime(2026, 3, 1, tzinfo=UTC)))
    assert redirector.paths == ["/go"]


def test_an_http_trigger_does_not_follow_a_redirect(redirector: Redirector) -> None:
    config = TriggerConfig.model_validate({"type": "http", "http": {"url": redirector.url + "/go"}})
    trigger_for(config.type).start(config, CTX)
    assert redirector.paths == ["/go"]
