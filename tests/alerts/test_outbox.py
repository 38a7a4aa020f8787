"""The alert outbox: steps record alerts and return; delivery (with retries) is a step of its own.

The sinks here are real: webhooks to HTTP servers on 127.0.0.1 (one that answers with scripted
status codes, one that hangs until released), on the memory store and the real Redis.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from interlock.alerts import AlertDispatcher
from interlock.alerts.outbox import BACKOFF, MAX_ATTEMPTS, deliver_key
from interlock.alerts.webhook import WebhookSink
from interlock.clock import FrozenClock
from interlock.config import load_project
from interlock.model import Alert, AlertLevel, RunStatus
from interlock.steps.deps import build_deps, register_project_pipelines
from interlock.steps.dispatch import InlineDispatcher, RecordingDispatcher
from interlock.steps.reconcile import reconcile
from interlock.steps.registry import run_step
from interlock.store.base import Store
from tests.steps.conftest import Harness
from tests.test_cli_project import interlock

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ALERT = Alert(level=AlertLevel.ERROR, alert_type="stuck_run", pipeline_id="orders", message="run stuck",
              timestamp=NOON, details={"runId": "r1"})


class Receiver:
    """A webhook receiver on 127.0.0.1: scripted status codes in order (then 200), or a hang until released."""

    def __init__(self, codes: list[int] | None = None, hang: bool = False) -> None:
        self.codes = list(codes or [])
        self.bodies: list[Any] = []
        self.arrived = 0
        self.release = threading.Event()
        if not hang:
            self.release.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.arrived += 1
                receiver.release.wait(30)  # a sink that hangs for 30 s (or until the test releases it)
                receiver.bodies.append(body)
                code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def hanging() -> Iterator[Receiver]:
    r = Receiver(hang=True)
    yield r
    r.close()


def test_an_alert_is_delivered_in_process_without_a_queue_and_each_attempt_is_recorded(
        any_store: Store, receiver: Receiver) -> None:
    alerts = AlertDispatcher(any_store, [WebhookSink(receiver.url)], clock=FrozenClock(NOON))
    assert alerts.fire(ALERT, dedup_key="stuck:r1")
    assert not alerts.fire(ALERT, dedup_key="stuck:r1")  # deduplicated as before: one record, one delivery
    assert receiver.bodies == [ALERT.model_copy(update={"alert_id": str(int(NOON.timestamp() * 1000))}).to_json()]
    [attempt] = any_store.list_deliveries()
    assert (attempt.sink, attempt.attempt, attempt.ok, attempt.final, attempt.alert_type) == (
        "webhook", 1, True, True, "stuck_run")
    assert any_store.list_deliveries(failed=True) == []
    assert any_store.due(NOON + timedelta(days=1)) == []  # nothing left to deliver
    assert [a.alert_type for a in any_store.list_all_alerts()] == ["stuck_run"]


def test_a_failing_sink_is_retried_with_backoff_through_the_due_index_then_given_up(any_store: Store) -> None:
    receiver = Receiver(codes=[503] * (2 * MAX_ATTEMPTS))  # the sink's two tries fail on every attempt
    try:
        clock = FrozenClock(NOON)
        file_out: list[Alert] = []

        class Collect:  # a second sink that works: it is sent to once, not on every retry
            name = "collect"

            def send(self, alert: Alert) -> None:
                file_out.append(alert)

        alerts = AlertDispatcher(any_store, [WebhookSink(receiver.url), Collect()], clock=clock)
        alerts.fire(ALERT)
        [due] = any_store.due(NOON + timedelta(days=1))
        assert due.key.startswith("deliver:") and due.due_at == NOON + BACKOFF[0]
        delivery_id = due.key.removeprefix("deliver:")
        for attempt in range(2, MAX_ATTEMPTS + 1):
            clock.advance(BACKOFF[min(attempt - 1, len(BACKOFF)) - 1])
            assert alerts.deliver(delivery_id).failed == 1
        assert len(file_out) == 1
        failed = any_store.list_deliveries(failed=True, limit=100)
        assert [(d.attempt, d.final) for d in failed] == [(n, n == MAX_ATTEMPTS) for n in range(MAX_ATTEMPTS, 0, -1)]
        assert "status 503" in (failed[0].error or "") and failed[0].retry_at is None
        assert failed[1].retry_at is not None
        assert any_store.due(NOON + timedelta(days=30)) == []  # given up: no more attempts
        assert alerts.deliver(delivery_id).failed == 0  # a late message for it does nothing
    finally:
        receiver.close()


def test_a_failed_delivery_comes_back_through_the_reconcile_pass(tmp_path: Path, any_store: Store,
                                                                 receiver: Receiver) -> None:
    receiver.codes = [500, 500]  # the first attempt fails (both of the sink's tries), the second is sent
    harness = Harness(tmp_path / "project", any_store)
    clock = FrozenClock(NOON)
    deps = harness.deps(clock)
    deps.alerts = AlertDispatcher(any_store, [WebhookSink(receiver.url)], clock=clock)
    deps.alerts.fire(ALERT)
    clock.advance(BACKOFF[0])
    inline = InlineDispatcher(deps)
    assert reconcile(inline.deps) == 1
    assert ("deliver_alert", {"delivery_id": any_store.list_deliveries()[0].delivery_id}) in inline.sent
    assert [(d.attempt, d.ok) for d in any_store.list_deliveries()] == [(2, True), (1, False)]
    assert len(receiver.bodies) == 3


def _project(root: Path, url: str, extra: str = "") -> Path:
    for folder in ("archetypes", "pipelines"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "archetypes" / "marked.yaml").write_text(
        "name: marked\nrequiredTraits:\n  - {type: ready-marker}\nreadinessRule: {type: all-required-pass}\n")
    (root / "pipelines" / "orders.yaml").write_text(
        "name: orders\narchetype: marked\ntraits:\n  ready-marker: {}\n"
        "trigger: {type: command, command: 'true'}\n" + extra)
    config = root / "interlock.yaml"
    config.write_text("provider: redis\nredis: {addr: '127.0.0.1:6379'}\narchetypeDirs: [./archetypes]\n"
                      f"pipelineDirs: [./pipelines]\nalerts: [{{type: webhook, url: '{url}'}}]\n")
    return config


class Broker(RecordingDispatcher):
    """Stands for the Celery client: steps sent here run later, elsewhere (``queued``)."""

    queued = True


def test_a_hanging_webhook_does_not_delay_the_evaluate_to_trigger_path(tmp_path: Path, any_store: Store,
                                                                       hanging: Receiver) -> None:
    from interlock.model import TraitStatus
    from interlock.steps.push import push_trait

    project = load_project(_project(tmp_path / "p", hanging.url), env={})
    clock = FrozenClock(NOON)
    any_store.clock = clock  # type: ignore[attr-defined]
    register_project_pipelines(project, any_store)
    broker = Broker()
    deps = build_deps(project, broker, store=any_store, clock=clock)
    inline = InlineDispatcher(deps, only={"advance", "trigger"})
    # Not ready: the evaluation raises its alerts (trait_failed, pipeline_blocked) and returns.
    run_step(inline.deps, "advance", pipeline="orders", schedule="daily")
    queued = [kwargs["delivery_id"] for step, kwargs in broker.sent if step == "deliver_alert"]
    assert len(queued) == 2 and hanging.arrived == 0
    # Ready: advance -> trigger -> the job ran, while both alerts still wait for an alerts worker.
    push_trait(inline.deps, "orders", "ready-marker", TraitStatus.PASS)
    run_step(inline.deps, "advance", pipeline="orders", schedule="daily")
    [run] = any_store.list_runs("orders")
    assert run.status is RunStatus.COMPLETED
    assert hanging.arrived == 0 and any_store.list_deliveries() == []
    assert {i.key for i in any_store.due(NOON)} >= {deliver_key(d) for d in queued}
    # The alerts worker: its delivery waits on the hanging sink, the steps above did not.
    worker = threading.Thread(target=run_step, args=(deps, "deliver_alert"), kwargs={"delivery_id": queued[0]})
    worker.start()
    hanging.release.set()
    worker.join(30)
    assert [d.ok for d in any_store.list_deliveries()] == [True]
    assert hanging.arrived == 1


@pytest.mark.integration
def test_interlock_alerts_lists_attempts_and_the_failed_ones(tmp_path: Path, receiver: Receiver) -> None:
    import uuid

    import redis

    from interlock.store.redis import RedisStore

    receiver.codes = [500, 500]
    config = _project(tmp_path / "p", receiver.url, "schedules:\n  - {name: daily, deadline: '09:00', timezone: UTC}\n")
    prefix = f"interlock-test-{uuid.uuid4().hex[:12]}:"
    config.write_text(config.read_text().replace("addr: '127.0.0.1:6379'",
                                                 f"addr: '127.0.0.1:6379', keyPrefix: '{prefix}'"))
    try:
        # `interlock check` raises schedule_missed alerts in the CLI's process (no workers): delivered there.
        assert interlock("validate", cwd=config.parent).returncode == 0
        checked = interlock("check", "--now", "2030-06-03T12:00:00Z", "--json", cwd=config.parent)
        assert checked.returncode == 0, checked.stderr
        listed = interlock("alerts", "--json", cwd=config.parent)
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)
        assert rows and all(r["sink"] == "webhook" and r["attempt"] == 1 for r in rows)
        failed = json.loads(interlock("alerts", "--failed", "--json", cwd=config.parent).stdout)
        assert [r["ok"] for r in failed] == [False] and "status 500" in failed[0]["error"]
        assert failed[0]["retryAt"] and not failed[0]["final"]
        table = interlock("alerts", "--failed", cwd=config.parent)
        assert "webhook" in table.stdout and "retry at" in table.stdout
        bad = interlock("alerts", "--limit", "0", cwd=config.parent)
        assert bad.returncode == 2 and "--limit" in bad.stderr
    finally:
        RedisStore(redis.Redis(host="127.0.0.1", decode_responses=True), prefix).purge()
