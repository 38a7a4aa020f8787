"""Each worker notes the queues it consumes every few seconds, for ``interlock_queue_consumers``.

A thread of the worker's main process (not a task: a busy pool must not delay it) writes one hash
field per worker (:func:`interlock.gauges.note_consumer`); ``/metrics`` counts the fresh ones per
queue, so a queue nobody consumes shows 0 and the ``InterlockQueueWithoutConsumer`` alert fires.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from interlock import gauges
from interlock.store.redis import RedisStore

log = logging.getLogger(__name__)


def start(store: Any, worker: str, queues: list[str]) -> threading.Event | None:
    """Note ``worker``'s ``queues`` now and every :data:`interlock.gauges.HEARTBEAT` seconds until
    the returned event is set (then the note is removed). None for a store without queues."""
    if not isinstance(store, RedisStore):
        return None
    stop = threading.Event()

    def run() -> None:
        while True:
            try:
                gauges.note_consumer(store, worker, queues)
            except Exception:  # Redis away: the next beat tries again; /metrics shows the gap
                log.warning("could not note this worker's queues", exc_info=True)
            if stop.wait(gauges.HEARTBEAT):
                break
        try:
            gauges.forget_consumer(store, worker)
        except Exception:
            log.warning("could not remove this worker's queue note", exc_info=True)

    threading.Thread(target=run, name="interlock-heartbeat", daemon=True).start()
    return stop
