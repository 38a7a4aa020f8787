"""The slack sink against a fake Slack Web API on 127.0.0.1 that keeps Slack's documented contract.

``chat.postMessage``: a JSON body with ``channel``, ``text`` and optionally ``thread_ts``; the bot
token as ``Authorization: Bearer``; an HTTP 200 answer ``{"ok": true, "channel", "ts"}`` or
``{"ok": false, "error": "<code>"}``; HTTP 429 with ``Retry-After`` (seconds) when rate limited.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from interlock.alerts import AlertDispatcher, build_sinks
from interlock.alerts.slack import SlackError, SlackSink
from interlock.config import ConfigInvalid, load_project
from interlock.model import Alert, AlertConfig, AlertLevel
from interlock.netguard import BlockedURL
from interlock.store.base import Store
from tests.conftest import OWN_PREFIX_CONFIG, ProjectFactory

TOKEN = "xoxb-1111-2222-secretsecretsecret"
CHANNEL = "C0123456789"


def alert(kind: str, period: str | None = "2026-03-02", pipeline: str = "orders") -> Alert:
    details = {"scheduleId": "daily", "period": period} if period else {"rerunId": "x"}
    return Alert(level=AlertLevel.ERROR, alert_type=kind, pipeline_id=pipeline, message=f"{kind} happened",
                 timestamp=datetime(2026, 3, 2, 9, tzinfo=UTC), details=details)


class FakeSlack:
    """``POST /api/chat.postMessage`` as Slack answers it; ``script`` forces the next answers."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.script: list[tuple[int, dict[str, str], dict[str, Any] | None]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    if fake.script:
                        code, headers, answer = fake.script.pop(0)
                    elif self.path != "/api/chat.postMessage":
                        code, headers, answer = 404, {}, None
                    elif self.headers.get("Authorization") != f"Bearer {TOKEN}":
                        code, headers, answer = 200, {}, {"ok": False, "error": "invalid_auth"}
                    elif body.get("channel") != CHANNEL:
                        code, headers, answer = 200, {}, {"ok": False, "error": "channel_not_found"}
                    else:
                        fake.posts.append(body)
                        ts = f"1772442000.{len(fake.posts):06d}"
                        code, headers, answer = 200, {}, {"ok": True, "channel": CHANNEL, "ts": ts,
                                                          "message": {"text": body["text"], "ts": ts}}
                raw = json.dumps(answer).encode() if answer is not None else b"not found"
                self.send_response(code)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.api = f"http://127.0.0.1:{self.server.server_address[1]}/api"

    def ts_of(self, index: int) -> str:
        return f"1772442000.{index + 1:06d}"


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    monkeypatch.setenv("INTERLOCK_SLACK_TOKEN", TOKEN)
    fake = FakeSlack()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def sink(slack: FakeSlack, store: Store | None) -> SlackSink:
    return SlackSink("${INTERLOCK_SLACK_TOKEN}", CHANNEL, store=store, api_url=slack.api)


def test_a_periods_alerts_read_as_one_thread(slack: FakeSlack, any_store: Store) -> None:
    config = AlertConfig.model_validate({"type": "slack", "token": "${INTERLOCK_SLACK_TOKEN}", "channel": CHANNEL,
                                         "apiUrl": slack.api})
    dispatcher = AlertDispatcher(any_store, build_sinks([config], Path("."), store=any_store))
    dispatcher.fire(alert("sla_warning"))
    dispatcher.fire(alert("sla_breach"))
    dispatcher.fire(alert("sla_warning", period="2026-03-03"))  # the next period: a thread of its own
    dispatcher.fire(alert("trait_failed", pipeline="sales"))    # another pipeline: another thread
    dispatcher.fire(alert("drift", period=None))               # no period: a message of its own
    # A second worker (its own sink, the same store) replies in the same thread.
    sink(slack, any_store).send(alert("gave_up"))

    assert [(p["text"], p.get("thread_ts")) for p in slack.posts] == [
        (":red_circle: *orders* `sla_warning` sla_warning happened", None),
        (":red_circle: *orders* `sla_breach` sla_breach happened", slack.ts_of(0)),
        (":red_circle: *orders* `sla_warning` sla_warning happened", None),
        (":red_circle: *sales* `trait_failed` trait_failed happened", None),
        (":red_circle: *orders* `drift` drift happened", None),
        (":red_circle: *orders* `gave_up` gave_up happened", slack.ts_of(0)),
    ]
    assert (dispatcher.sent, dispatcher.failed) == (5, 0)


def test_two_workers_racing_on_a_periods_first_alert_start_one_thread(slack: FakeSlack, any_store: Store) -> None:
    sinks = [sink(slack, any_store) for _ in range(4)]
    threads = [threading.Thread(target=s.send, args=(alert(f"a{i}"),)) for i, s in enumerate(sinks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    roots = [p for p in slack.posts if "thread_ts" not in p]
    assert len(roots) == 1 and len(slack.posts) == 4
    root_ts = slack.ts_of(slack.posts.index(roots[0]))
    assert all(p["thread_ts"] == root_ts for p in slack.posts if p is not roots[0])


def test_a_429_is_retried_once_after_retry_after(slack: FakeSlack, memory_store: Store) -> None:
    slack.script = [(429, {"Retry-After": "0"}, {"ok": False, "error": "ratelimited"})]
    sink(slack, memory_store).send(alert("sla_breach"))
    assert len(slack.posts) == 1


@pytest.mark.parametrize("retry_after", ["60", "soon", "nan", "-1"])
def test_a_429_with_a_long_or_bad_retry_after_fails_the_send(slack: FakeSlack, memory_store: Store,
                                                            retry_after: str) -> None:
    slack.script = [(429, {"Retry-After": retry_after}, {"ok": False, "error": "ratelimited"})]
    with pytest.raises(SlackError, match="status 429"):
        sink(slack, memory_store).send(alert("sla_breach"))
    assert slack.posts == [] and slack.script == []  # asked once, not again


def test_a_refused_message_names_slacks_error_and_never_the_token(slack: FakeSlack, memory_store: Store,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    bad_channel = SlackSink("${INTERLOCK_SLACK_TOKEN}", "C999", store=memory_store, api_url=slack.api)
    with pytest.raises(SlackError, match="refused the message: channel_not_found"):
        bad_channel.send(alert("sla_breach"))
    assert memory_store.get_value("slack-thread:C999:orders:daily:2026-03-02") is None  # no thread to reply to
    slack.script = [(200, {}, {"ok": False, "error": TOKEN})]  # an answer that echoes the token
    with pytest.raises(SlackError) as exc:
        sink(slack, memory_store).send(alert("sla_breach"))
    assert TOKEN not in str(exc.value) and "[REDACTED]" in str(exc.value)
    slack.script = [(200, {}, {"ok": True})]  # ok without a ts: no thread can hang off it
    with pytest.raises(SlackError, match="without a message ts"):
        sink(slack, memory_store).send(alert("sla_breach"))
    monkeypatch.delenv("INTERLOCK_SLACK_TOKEN")
    with pytest.raises(SlackError, match=r"\$\{INTERLOCK_SLACK_TOKEN\} is not set"):
        sink(slack, memory_store).send(alert("sla_breach"))
    assert slack.posts == []


def test_the_api_url_passes_the_outbound_guard() -> None:
    for url in ("http://169.254.169.254/api", "http://[fd00:ec2::254]/api"):
        with pytest.raises(BlockedURL):
            SlackSink("${INTERLOCK_SLACK_TOKEN}", CHANNEL, store=None, api_url=url)


SLACK_SINK = "alerts:\n  - {{type: slack, channel: {channel}, token: '{token}'{extra}}}\n"


@pytest.mark.parametrize(("sink_yaml", "problem"), [
    (SLACK_SINK.format(channel=CHANNEL, token=TOKEN, extra=""),
     "alerts[0].token: must be one ${INTERLOCK_*} variable"),
    (SLACK_SINK.format(channel=CHANNEL, token="Bearer ${INTERLOCK_SLACK_TOKEN}", extra=""),
     "alerts[0].token: must be one ${INTERLOCK_*} variable"),
    ("alerts:\n  - {type: slack, token: '${INTERLOCK_SLACK_TOKEN}'}\n", "alerts[0].channel: required for a slack sink"),
    ("alerts:\n  - {type: slack, channel: C1}\n", "alerts[0].token: required for a slack sink"),
    (SLACK_SINK.format(channel="'#a b'", token="${INTERLOCK_SLACK_TOKEN}", extra=""), "alerts[0].channel"),
    (SLACK_SINK.format(channel=CHANNEL, token="${INTERLOCK_SLACK_TOKEN}", extra=", apiUrl: 'http://169.254.169.254'"),
     "alerts[0].apiUrl"),
])
def test_slack_sink_settings_are_validated(make_project: ProjectFactory, sink_yaml: str, problem: str) -> None:
    with pytest.raises(ConfigInvalid) as exc:
        load_project(make_project(OWN_PREFIX_CONFIG + sink_yaml), env={"INTERLOCK_SLACK_TOKEN": TOKEN})
    assert any(problem in str(e) for e in exc.value.errors), [str(e) for e in exc.value.errors]
    assert all(TOKEN not in str(e) for e in exc.value.errors)


def test_an_unset_token_variable_is_a_warning_and_a_set_one_is_not(make_project: ProjectFactory) -> None:
    path = make_project(OWN_PREFIX_CONFIG + SLACK_SINK.format(channel=CHANNEL, token="${INTERLOCK_SLACK_TOKEN}",
                                                              extra=""))
    assert [w.message for w in load_project(path, env={}).warnings] == [
        "${INTERLOCK_SLACK_TOKEN} is not set in this environment; the sink fails to send unless it is set where "
        "the workers run"]
    assert load_project(path, env={"INTERLOCK_SLACK_TOKEN": TOKEN}).warnings == []
