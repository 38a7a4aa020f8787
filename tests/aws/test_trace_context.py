"""Trace context on AWS: the stream router's span goes into the execution input as ``traceparent``,
the state machine hands it to every Lambda task, and each handler's span continues that trace
(moto's Step Functions interpreter, the project's own handlers, spans kept in memory)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from interlock import tracing
from interlock.model import TraitStatus
from interlock.steps.push import push_trait
from lambdas import stream_router
from lambdas.executions import execution_input
from tests.aws.conftest import Aws


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on, as :func:`tracing.setup` would switch it on, exporting to memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_provider", provider)
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("interlock"))
    yield exporter
    provider.shutdown()


def _route_a_push(aws: Aws) -> dict[str, Any]:
    aws.stream_records()  # registration's records are not routed
    push_trait(aws.deps, "orders", "upstream-dependency", TraitStatus.PASS)
    assert stream_router.handler({"Records": aws.stream_records()}, None) == {"batchItemFailures": []}
    [execution] = aws.executions()
    return execution


def test_the_execution_input_carries_nothing_with_tracing_off() -> None:
    assert not tracing.enabled()
    assert execution_input("orders", "daily", "push") == {"pipelineID": "orders", "scheduleID": "daily",
                                                          "source": "push"}


def test_every_lambda_span_of_an_execution_continues_the_routers_trace(aws_env: Aws,
                                                                       spans: InMemorySpanExporter) -> None:
    execution = _route_a_push(aws_env)
    given = json.loads(aws_env.sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    routes = {f"00-{s.context.trace_id:032x}-{s.context.span_id:016x}": s
              for s in spans.get_finished_spans() if s.name == "interlock.aws.route"}  # one per stream record
    version_trace_span = given["traceparent"].rsplit("-", 1)[0]  # the flags byte varies by SDK version
    assert version_trace_span in routes, (given, list(routes))
    context = routes[version_trace_span].context

    assert aws_env.finish(execution["executionArn"])["status"] == "SUCCEEDED"
    finished: list[ReadableSpan] = list(spans.get_finished_spans())
    handlers = {s.name: s for s in finished if s.name.startswith("interlock.aws.") and s.name != "interlock.aws.route"}
    assert {"interlock.aws.acquireLock", "interlock.aws.checkRunLog", "interlock.aws.checkReadiness",
            "interlock.aws.trigger", "interlock.aws.releaseLock"} <= set(handlers)
    for name, span in handlers.items():
        assert span.parent is not None and span.parent.span_id == context.span_id, name
        assert span.context.trace_id == context.trace_id, name
    # The steps the handlers run are children of the handler's span, in the same trace.
    trigger = next(s for s in finished if s.name == "interlock.trigger")
    assert trigger.context.trace_id == context.trace_id
    assert trigger.parent is not None and trigger.parent.span_id == handlers["interlock.aws.trigger"].context.span_id
    assert handlers["interlock.aws.trigger"].attributes["interlock.pipeline"] == "orders"


def test_an_execution_started_without_a_traceparent_runs_and_its_spans_start_their_own_traces(
        aws_env: Aws, spans: InMemorySpanExporter) -> None:
    """An input from before this change (or from a router with tracing off) still runs to the end."""
    push_trait(aws_env.deps, "orders", "upstream-dependency", TraitStatus.PASS)
    arn = aws_env.start("untraced")
    assert aws_env.finish(arn)["status"] == "SUCCEEDED"
    handlers = [s for s in spans.get_finished_spans() if s.name.startswith("interlock.aws.")]
    assert handlers and all(s.parent is None for s in handlers)
    assert len({s.context.trace_id for s in handlers}) == len(handlers)
