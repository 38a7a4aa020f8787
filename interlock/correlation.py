"""The ids of the work in hand, for log lines and traces: pipeline, schedule, period, run id, trace id.

:func:`interlock.steps.registry.run_step` binds them from a step's arguments for as long as the
step runs (:func:`bound`); a log formatter (:mod:`interlock.logformat`) reads :func:`ids`. What
crosses a process boundary travels in a message's headers (:func:`outgoing` when sending,
:func:`incoming` when running): the time of the push that started the chain (for the
push-to-trigger latency, ``interlock_push_to_trigger_seconds``) and, when tracing is on, the W3C
``traceparent`` of the span that sent it. Everything here is contextvars: no I/O, no store call.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

from interlock import tracing

# The ids a log line carries, in this order.
FIELDS = ("pipeline", "schedule", "period", "run_id")
# Message headers: the wall-clock time (epoch seconds) of the push that started the chain, and
# the W3C trace context of the sender's span.
PUSHED_AT = "interlock_pushed_at"
TRACEPARENT = "traceparent"

_EMPTY: Mapping[str, str] = MappingProxyType({})
_ids: ContextVar[Mapping[str, str]] = ContextVar("interlock_ids", default=_EMPTY)
_origin: ContextVar[Mapping[str, str]] = ContextVar("interlock_origin", default=_EMPTY)


def ids() -> dict[str, str]:
    """The ids known here: those bound by the step runner and the current trace id (tracing on)."""
    found = dict(_ids.get())
    trace_id = tracing.trace_id()
    if trace_id:
        found["trace_id"] = trace_id
    return found


@contextmanager
def bound(**values: Any) -> Iterator[None]:
    """Add ids (None and empty values are left out) for the duration of the block."""
    token = _ids.set({**_ids.get(), **{k: str(v) for k, v in values.items() if v not in (None, "")}})
    try:
        yield
    finally:
        _ids.reset(token)


def ids_of(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The ids among a step's arguments (``pipeline``, ``schedule``, ``period``, ``run_id``)."""
    return {k: arguments[k] for k in FIELDS if k in arguments}


def outgoing() -> dict[str, str]:
    """The headers a message sent now carries: the push time and the current trace context."""
    headers = {k: v for k, v in _origin.get().items() if k == PUSHED_AT}
    headers.update(tracing.inject() or {k: v for k, v in _origin.get().items() if k == TRACEPARENT})
    return headers


@contextmanager
def incoming(headers: Mapping[str, Any] | None) -> Iterator[None]:
    """Run the block with what a received message's ``headers`` carried (unknown keys ignored)."""
    carried = {k: str(v) for k, v in (headers or {}).items() if k in (PUSHED_AT, TRACEPARENT) and v}
    token = _origin.set(carried)
    try:
        yield
    finally:
        _origin.reset(token)


@contextmanager
def pushed() -> Iterator[None]:
    """Mark the block as a push: what it asks for carries the time now as the push time."""
    token = _origin.set({**_origin.get(), PUSHED_AT: repr(time.time())})
    try:
        yield
    finally:
        _origin.reset(token)


def parent() -> str | None:
    """The ``traceparent`` a received message carried, if any."""
    return _origin.get().get(TRACEPARENT)


def since_push() -> float | None:
    """Seconds since the push that started this chain (None when it was not a push, or unreadable)."""
    raw = _origin.get().get(PUSHED_AT)
    try:
        return max(0.0, time.time() - float(raw)) if raw else None
    except ValueError:
        return None
