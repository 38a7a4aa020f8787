"""A real stack on a private key prefix: the API, an evaluation worker, a worker for the other
queues and Beat, with JSON logs and traces exported over OTLP/HTTP to a collector stub.

One push, then: every metric the dashboard and the alert rules read is in the API's ``/metrics``;
the push is one trace with spans from three processes (API, evaluation worker, trigger worker);
the log lines are JSON and carry the pipeline, period, run id and trace id.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from interlock.demo.stack import Stack
from interlock.steps.registry import queues
from interlock.store.redis import RedisStore
from tests.api.live import free_port
from tests.observability.rules import dashboard_queries, metric_names, rule_queries

pytestmark = pytest.mark.integration


@dataclass
class Collector:
    """An OTLP/HTTP trace receiver (POST /v1/traces, protobuf), keeping (service, trace id, span name)."""

    spans: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> tuple[ThreadingHTTPServer, str]:
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                with collector.lock:
                    for resource in request.resource_spans:
                        service = next(a.value.string_value for a in resource.resource.attributes
                                       if a.key == "service.name")
                        for scope in resource.scope_spans:
                            for span in scope.spans:
                                attrs = {a.key: a.value.string_value for a in span.attributes}
                                collector.spans.append((service, span.trace_id.hex(), span.name, attrs))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://127.0.0.1:{server.server_address[1]}"


@dataclass
class Live:
    root: Path
    api: str
    collector: Collector


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("observed")
    prefix = f"interlock-test-{uuid.uuid4().hex[:12]}:"
    for folder in ("archetypes", "pipelines"):
        (root / folder).mkdir()
    (root / "interlock.yaml").write_text(f"""\
provider: redis
redis: {{addr: "127.0.0.1:6379", keyPrefix: "{prefix}"}}
archetypeDirs: [./archetypes]
pipelineDirs: [./pipelines]
watcher: {{defaultInterval: 1s, reconcileInterval: 5s}}
""")
    # Reconcile every 5 s, not every 500 ms: a pass that finds the push's due entry before the
    # evaluation worker took its message evaluates it first (a trace and a trigger of its own).
    (root / "archetypes" / "marked.yaml").write_text(
        "name: marked\nrequiredTraits:\n  - {type: ready-marker}\nreadinessRule: {type: all-required-pass}\n")
    (root / "pipelines" / "orders.yaml").write_text(
        "name: orders\narchetype: marked\ntrigger:\n  type: command\n"
        "  command: {command: 'mkdir -p fired && echo $INTERLOCK_RUN_ID >> fired/orders', shell: true}\n")
    collector = Collector()
    server, endpoint = collector.start()
    port = free_port()
    stack = Stack()

    def start(name: str, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INTERLOCK_", "OTEL_"))}
        env.update(INTERLOCK_CONFIG=str(root / "interlock.yaml"), INTERLOCK_LOG_FORMAT="json",
                   OTEL_TRACES_EXPORTER="otlp", OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
                   OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf", OTEL_BSP_SCHEDULE_DELAY="200",
                   OTEL_SERVICE_NAME=name)
        stack.start([sys.executable, "-m", "interlock.cli", *args], root / f"{name}.log", env, root)

    others = ",".join(q for q in queues() if q != "evaluation")
    start("api", "serve", "--port", str(port))
    start("evaluation", "worker", "--queues", "evaluation", "--concurrency", "1")
    start("trigger", "worker", "--queues", others, "--concurrency", "1")
    start("beat", "beat")
    store = RedisStore(redis.Redis(host="127.0.0.1", decode_responses=True), prefix)
    try:
        for name in ("evaluation", "trigger"):
            wait_for(lambda n=name: "ready" in (root / f"{n}.log").read_text(), 60, f"the {name} worker")
        api = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(api), 60, "the API")
        yield Live(root, api, collector)
    finally:
        stack.stop()
        server.shutdown()
        store.purge()


def _answers(api: str) -> bool:
    try:
        return httpx.get(f"{api}/api/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def pushed(live: Live) -> str:
    """Push the marker once; return the run id the trigger started."""
    answer = httpx.post(f"{live.api}/api/pipelines/orders/traits/ready-marker", json={"status": "PASS"}, timeout=10)
    assert answer.status_code == 201, answer.text
    fired = live.root / "fired" / "orders"
    return str(wait_for(lambda: fired.exists() and fired.read_text().split(), 60, "the job to start")[0])


def _metrics(live: Live) -> str:
    return httpx.get(f"{live.api}/metrics", timeout=10).text


def test_every_metric_the_dashboard_and_the_rules_read_is_served(live: Live, pushed: str) -> None:
    wanted = metric_names(dashboard_queries() + rule_queries())
    # Beat's first reconcile pass, and both workers' queue notes, have landed.
    def settled() -> str | None:
        text = _metrics(live)
        passed = "interlock_reconcile_last_pass_timestamp_seconds 0\n" not in text
        return text if passed and 'interlock_queue_consumers{queue="evaluation"} 1' in text else None

    text = wait_for(settled, 30, "a reconcile pass and the workers' queue notes")
    served = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    assert wanted <= served, sorted(wanted - served)
    for queue in queues():
        assert f'interlock_queue_consumers{{queue="{queue}"}} 1' in text
        assert f'interlock_queue_depth{{queue="{queue}"}} ' in text
    assert "interlock_push_to_trigger_seconds_count 1" in text
    assert 'interlock_triggers_total{type="command"} 1' in text
    assert 'interlock_pipelines{state="completed"} 1' in text


def test_one_push_is_one_trace_across_the_api_and_both_workers(live: Live, pushed: str) -> None:
    def spans_of_push() -> list[tuple[str, str, str, dict[str, Any]]] | None:
        with live.collector.lock:
            spans = list(live.collector.spans)
        roots = [s for s in spans if s[2] == "interlock.push"]
        if not roots:
            return None
        trace = [s for s in spans if s[1] == roots[0][1]]
        return trace if {"interlock.evaluator", "interlock.trigger.start"} & {s[2] for s in trace} \
            and "interlock.trigger.start" in {s[2] for s in trace} else None

    trace = wait_for(spans_of_push, 30, "the push's spans")
    assert {service for service, *_ in trace} == {"api", "evaluation", "trigger"}
    names = {name for _, _, name, _ in trace}
    assert {"interlock.push", "interlock.advance", "interlock.trigger", "interlock.trigger.start"} <= names
    start = next(attrs for _, _, name, attrs in trace if name == "interlock.trigger.start")
    assert start["interlock.pipeline"] == "orders" and start["interlock.run_id"] == pushed
    assert start["interlock.schedule"] == "daily" and start["interlock.period"] in pushed


def test_json_log_lines_carry_the_ids_of_the_work(live: Live, pushed: str) -> None:
    lines = [line for line in (live.root / "trigger.log").read_text().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]  # every JSON-looking line parses
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    started = [r for r in records if r["message"] == f"command trigger started run {pushed}"]
    assert started, records[-5:]
    assert started[0]["pipeline"] == "orders" and started[0]["schedule"] == "daily"
    assert started[0]["period"] in pushed and len(started[0]["trace_id"]) == 32
    beat = [json.loads(line) for line in (live.root / "beat.log").read_text().splitlines() if line.startswith("{")]
    assert beat, "Beat wrote no JSON log line"
