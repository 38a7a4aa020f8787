"""OpenTelemetry traces, switched on by the standard ``OTEL_*`` variables; off, nothing is imported.

On when :func:`setup` finds ``OTEL_TRACES_EXPORTER`` (``otlp`` or ``console``) or an OTLP endpoint
(``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), and
``OTEL_SDK_DISABLED`` is not ``true``. The exporter is OTLP over HTTP/protobuf, configured by the
SDK from the same variables (endpoint, headers, timeout, ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_BSP_*``). Needs the ``otel`` extra.

Off (the default), :func:`span` is a context manager that does nothing and :func:`inject` returns
``{}``: opentelemetry is never imported (a test checks), so there is no cost.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

# The tracer once :func:`setup` switched tracing on; None means off.
_tracer: Any = None
_provider: Any = None


def wanted(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the ``OTEL_*`` variables in ``env`` ask for traces."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return bool(exporter or env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def setup(service: str, env: Mapping[str, str] = os.environ) -> bool:
    """Switch tracing on for this process when ``env`` asks for it; return whether it is on.

    ``service`` is the ``service.name`` unless ``OTEL_SERVICE_NAME`` names one. Call it once per
    process, after any fork (a worker's pool processes call it at their start). Raises
    RuntimeError when traces are asked for but the ``otel`` extra is not installed, and
    ValueError for an exporter other than ``otlp`` or ``console``.
    """
    global _tracer, _provider
    if not wanted(env):
        return False
    exporter_name = env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    if exporter_name not in ("otlp", "console"):
        raise ValueError(f"OTEL_TRACES_EXPORTER={exporter_name!r}: Interlock exports traces with otlp or console")
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
    except ImportError as exc:
        raise RuntimeError("OTEL_* variables ask for traces but OpenTelemetry is not installed: "
                           "pip install 'interlock[otel]'") from exc
    exporter: SpanExporter
    if exporter_name == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or service})
    _provider = TracerProvider(resource=resource)
    _provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(_provider)
    _tracer = _provider.get_tracer("interlock")
    return True


def enabled() -> bool:
    return _tracer is not None


def shutdown() -> None:
    """Export what is buffered and stop (a worker's pool process calls it before it exits)."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None


def flush() -> None:
    """Export what is buffered now (a Lambda may be frozen as soon as its handler returns)."""
    if _provider is not None:
        _provider.force_flush()


@contextmanager
def span(name: str, parent: str | None = None, **attributes: Any) -> Iterator[None]:
    """A span around the block, child of ``parent`` (a ``traceparent``) or of the current span.

    Attributes that are None are left out. Off, it does nothing.
    """
    if _tracer is None:
        yield
        return
    context = None
    if parent:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        context = TraceContextTextMapPropagator().extract({"traceparent": parent})
    attrs = {f"interlock.{k}": v if isinstance(v, bool | int | float) else str(v)
             for k, v in attributes.items() if v is not None}
    with _tracer.start_as_current_span(name, context=context, attributes=attrs):
        yield


def inject() -> dict[str, str]:
    """The current span's W3C ``traceparent`` as a header; ``{}`` when off or outside a span."""
    if _tracer is None:
        return {}
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier


def trace_id() -> str | None:
    """The current trace's id (32 hex digits); None when off or outside a span."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None
