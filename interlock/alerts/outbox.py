"""The alert outbox: a step records an alert and returns; the sinks are sent to apart from it.

Recording (:meth:`AlertDispatcher.fire <interlock.alerts.dispatcher.AlertDispatcher.fire>`): the
dedup mark, then one store write holding the alert, its outbox entry (``value outbox:<id>``: the
alert, the attempt number, the sinks already sent to) and the due entry ``deliver:<id>``. Then the
``deliver_alert`` step is asked for: on Celery a message to the ``alerts`` queue, so a sink that
hangs holds an alerts worker, never the step; without a queue (the CLI, tests, the demo, the
Lambdas) it runs right away in the same process.

Delivering (:func:`deliver`, the body of the ``deliver_alert`` step): under a store lock, each sink
not sent to yet is sent to, and every attempt is recorded (:class:`~interlock.model.AlertDelivery`,
``interlock alerts``). When a sink fails, the due entry moves to the next backoff
(:data:`BACKOFF`) and the reconcile pass asks for the step again then; after
:data:`MAX_ATTEMPTS` the alert is given up for the failing sinks (the last record says
``final``). A lost message costs nothing but time: the due entry is still there.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from interlock import metrics
from interlock.alerts.base import Sink
from interlock.model import Alert, AlertDelivery
from interlock.redaction import excerpt, redact
from interlock.store.base import OutboxEntry, Store

log = logging.getLogger(__name__)

# Attempts per sink, the first included.
MAX_ATTEMPTS = 5
# The pause before attempt n+1 is BACKOFF[n-1] (the last one repeats).
BACKOFF = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(minutes=30))
# Longer than a delivery of every sink can take (each sink bounds its own calls, 10 s a request).
LOCK_TTL = 300.0
ERROR_MAX = 300


def outbox_key(delivery_id: str) -> str:
    return f"outbox:{delivery_id}"


def deliver_key(delivery_id: str) -> str:
    """The due-index key of a pending delivery (:func:`interlock.steps.keys.parse` maps it to the step)."""
    return f"deliver:{delivery_id}"


def new_entry(alert: Alert, now: datetime, ttl: timedelta) -> tuple[str, OutboxEntry]:
    """A new delivery id and the outbox entry that makes ``alert`` pending, due ``now``."""
    delivery_id = uuid.uuid4().hex
    value = json.dumps({"alert": alert.to_json(), "attempt": 0, "done": [], "state": "pending"},
                       separators=(",", ":"))
    return delivery_id, OutboxEntry(outbox_key(delivery_id), value, ttl.total_seconds(), deliver_key(delivery_id), now)


def labelled(sinks: Sequence[Sink]) -> list[tuple[str, Sink]]:
    """Each sink with a name unique among ``sinks`` (``webhook``, ``webhook#2``, ...)."""
    seen: dict[str, int] = {}
    out = []
    for sink in sinks:
        seen[sink.name] = seen.get(sink.name, 0) + 1
        out.append((sink.name if seen[sink.name] == 1 else f"{sink.name}#{seen[sink.name]}", sink))
    return out


@dataclass
class Delivered:
    """What one :func:`deliver` call did."""

    sent: int = 0
    failed: int = 0
    #: When the failing sinks are tried again; None when nothing is left to do.
    retry_at: datetime | None = None


def deliver(store: Store, sinks: Sequence[Sink], delivery_id: str, now: datetime,
            ttl: timedelta = timedelta(days=7)) -> Delivered:
    """Send outboxed alert ``delivery_id`` to every sink it has not reached yet; record each attempt.

    Nothing to do (an unknown id, a delivery already finished, or another process delivering it
    now): an empty :class:`Delivered`.
    """
    result = Delivered()
    lock = store.acquire_lock(deliver_key(delivery_id), LOCK_TTL)
    if lock is None:
        return result  # another worker has it; its outcome moves the due entry
    try:
        raw = store.get_value(outbox_key(delivery_id))
        entry = _entry(delivery_id, raw)
        if entry is None or entry["state"] != "pending":
            store.clear_due(deliver_key(delivery_id))
            return result
        alert = Alert.model_validate(entry["alert"])
        attempt = int(entry["attempt"]) + 1
        done = set(entry["done"])
        last = attempt >= MAX_ATTEMPTS
        retry_at = None if last else now + BACKOFF[min(attempt, len(BACKOFF)) - 1]
        for label, sink in labelled(sinks):
            if label in done:
                continue
            started = time.perf_counter()
            error = None
            try:
                sink.send(alert)
            except Exception as exc:
                error = excerpt(redact(f"{type(exc).__name__}: {exc}"), ERROR_MAX)
                log.warning("alert sink %s failed for alert %s (attempt %d of %d): %s", label, alert.alert_id,
                            attempt, MAX_ATTEMPTS, error)
            seconds = round(time.perf_counter() - started, 3)
            if error is None:
                done.add(label)
                result.sent += 1
                metrics.count(store, "interlock_alerts_total", sink=sink.name)
            else:
                result.failed += 1
                metrics.count(store, "interlock_alerts_failed_total", sink=sink.name)
            store.record_delivery(AlertDelivery(
                delivery_id=delivery_id, alert_id=alert.alert_id, alert_type=alert.alert_type,
                pipeline_id=alert.pipeline_id, sink=label, attempt=attempt, ok=error is None, error=error,
                final=error is None or last, retry_at=None if error is None else retry_at, seconds=seconds, at=now))
        pending = result.failed > 0 and not last
        entry.update(attempt=attempt, done=sorted(done),
                     state="pending" if pending else ("sent" if result.failed == 0 else "failed"))
        store.put_value(outbox_key(delivery_id), json.dumps(entry, separators=(",", ":")), ttl.total_seconds())
        if pending:
            assert retry_at is not None
            store.set_due(deliver_key(delivery_id), retry_at)
            result.retry_at = retry_at
        else:
            store.clear_due(deliver_key(delivery_id))
        return result
    finally:
        store.release_lock(lock)


def _entry(delivery_id: str, raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        entry = json.loads(raw)
        if not isinstance(entry, dict) or not isinstance(entry.get("alert"), dict):
            raise ValueError("not an outbox entry")
        return entry
    except ValueError as exc:
        log.warning("alert outbox: dropping unreadable entry %s: %s", outbox_key(delivery_id), exc)
        return None
