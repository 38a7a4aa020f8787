"""Gauges read when ``/metrics`` is scraped, never recorded by the steps: what waits, and how late.

* ``interlock_pipelines{state}``: registered pipelines by state (``failed``, ``running``, ``blocked``,
  ``completed``, ``waiting``: interlock.store.status), read from the store's state index, so a
  scrape costs the same at 50 000 pipelines as at one.
* ``interlock_due_overdue_entries``: due-index entries whose time has passed (at most
  :data:`OVERDUE_CAP` are counted). The reconcile pass leases what it dispatches, so a healthy
  deployment keeps this near zero.
* ``interlock_reconcile_lag_seconds``: how long the oldest overdue entry has waited (0 if none).
* ``interlock_reconcile_last_pass_timestamp_seconds``: when a reconcile pass last ran (epoch
  seconds, 0 before the first).
* ``interlock_archive_lag_entries``: change-stream entries not archived yet (the archiver trims
  what it has copied).
* ``interlock_queue_depth{queue}`` and ``interlock_queue_consumers{queue}``: messages waiting in
  each Celery queue (every priority) and the workers consuming it (by their heartbeat,
  :func:`note_consumer`). Redis store only: with DynamoDB there are no queues.

On Redis every gauge but ``interlock_pipelines`` is read in one pipelined round trip. Nothing here
runs on the lifecycle's path: the steps only write the reconcile pass time (:func:`note_reconcile_pass`).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from interlock.metrics import series
from interlock.store.base import Store

if TYPE_CHECKING:  # imported where used: the Lambdas (reconcile notes its passes here) ship without redis
    from interlock.store.redis import RedisStore

log = logging.getLogger(__name__)

# Overdue due entries counted at most (a scrape reads no more than this many).
OVERDUE_CAP = 10_000
# Change-stream entries counted at most by a store that cannot count them in one call.
ARCHIVE_CAP = 10_000
# A worker notes the queues it consumes this often (seconds) ...
HEARTBEAT = 10.0
# ... and counts as gone when its last note is older than this (seconds).
CONSUMER_EXPIRY = 3 * HEARTBEAT
LAST_PASS_KEY = "reconcile:last-pass"

HELP = {
    "interlock_pipelines": "Registered pipelines by state (the status page's counts).",
    "interlock_due_overdue_entries": "Due-index entries whose time has passed.",
    "interlock_reconcile_lag_seconds": "Seconds the oldest overdue due entry has waited (0 when none).",
    "interlock_reconcile_last_pass_timestamp_seconds": "When the last reconcile pass ran (Unix time).",
    "interlock_archive_lag_entries": "Change-stream entries not archived yet.",
    "interlock_queue_depth": "Messages waiting in each Celery queue, every priority.",
    "interlock_queue_consumers": "Workers consuming each Celery queue (by their heartbeat).",
}


def note_reconcile_pass(store: Store, now: datetime) -> None:
    """Record that a reconcile pass ran at ``now`` (one write; never raises)."""
    try:
        store.put_value(LAST_PASS_KEY, repr(now.timestamp()))
    except Exception:
        log.warning("could not record the reconcile pass time", exc_info=True)


def note_consumer(store: RedisStore, worker: str, queues: list[str], now: float | None = None) -> None:
    """Worker ``worker`` consumes ``queues`` (called every :data:`HEARTBEAT` seconds by each worker)."""
    store.r.hset(store.k("consumers"), worker, json.dumps({"queues": queues, "at": now or time.time()}))


def forget_consumer(store: RedisStore, worker: str) -> None:
    store.r.hdel(store.k("consumers"), worker)


def read(store: Store, now: datetime, queues: list[str], broker_prefix: str,
         priority_steps: tuple[int, ...]) -> dict[str, float]:
    """Every gauge, by series name (see the module's list); a gauge that cannot be read is left out."""
    gauges: dict[str, float] = {}
    try:
        gauges.update(_pipelines(store, now))
    except Exception:
        log.warning("could not read the pipelines' states for /metrics", exc_info=True)
    from interlock.store.redis import RedisStore

    try:
        if isinstance(store, RedisStore):
            gauges.update(_redis(store, now, queues, broker_prefix, priority_steps))
        else:
            gauges.update(_generic(store, now))
    except Exception:
        log.warning("could not read the due index, queues or change stream for /metrics", exc_info=True)
    return gauges


def _pipelines(store: Store, now: datetime) -> dict[str, float]:
    return {series("interlock_pipelines", state=state): float(n) for state, n in store.state_counts().items()}


def _lag(now: datetime, oldest: float | None) -> float:
    return max(0.0, now.timestamp() - oldest) if oldest is not None else 0.0


def _generic(store: Store, now: datetime) -> dict[str, float]:
    overdue = store.due(now, OVERDUE_CAP)
    last = store.get_value(LAST_PASS_KEY)
    return {
        "interlock_due_overdue_entries": float(len(overdue)),
        "interlock_reconcile_lag_seconds": _lag(now, overdue[0].due_at.timestamp() if overdue else None),
        "interlock_reconcile_last_pass_timestamp_seconds": float(last) if last else 0.0,
        "interlock_archive_lag_entries": float(len(store.read_changes("", ARCHIVE_CAP))),
    }


def _redis(store: RedisStore, now: datetime, queues: list[str], broker_prefix: str,
           priority_steps: tuple[int, ...]) -> dict[str, float]:
    due = store.k("due")
    now_ms = now.timestamp() * 1000
    pipe = store.r.pipeline(transaction=False)
    pipe.zcount(due, "-inf", now_ms)
    pipe.zrangebyscore(due, "-inf", now_ms, start=0, num=1, withscores=True)
    pipe.get(store.k("value", LAST_PASS_KEY))
    pipe.xlen(store._changes)
    pipe.hgetall(store.k("consumers"))
    for queue in queues:
        for step in priority_steps:
            pipe.llen(broker_prefix + (f"{queue}:{step}" if step else queue))
    answers: list[Any] = pipe.execute()
    overdue, oldest, last, changes, consumers = answers[:5]
    depths = answers[5:]
    gauges = {
        "interlock_due_overdue_entries": float(min(overdue, OVERDUE_CAP)),
        "interlock_reconcile_lag_seconds": _lag(now, oldest[0][1] / 1000 if oldest else None),
        "interlock_reconcile_last_pass_timestamp_seconds": float(last) if last else 0.0,
        "interlock_archive_lag_entries": float(changes),
    }
    per_queue = len(priority_steps)
    for i, queue in enumerate(queues):
        gauges[series("interlock_queue_depth", queue=queue)] = float(sum(depths[i * per_queue:(i + 1) * per_queue]))
    gauges.update({series("interlock_queue_consumers", queue=q): 0.0 for q in queues})
    for raw in cast(dict[str, str], consumers).values():
        try:
            note = json.loads(raw)
            fresh = now.timestamp() - float(note["at"]) <= CONSUMER_EXPIRY
            consumed = [q for q in note["queues"] if q in queues]
        except (ValueError, KeyError, TypeError):
            continue
        if fresh:
            for queue in consumed:
                gauges[series("interlock_queue_consumers", queue=queue)] += 1
    return gauges
