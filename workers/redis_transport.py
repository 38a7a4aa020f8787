"""A fix to kombu's Redis transport for a worker that loses the broker while running a late-ack task.

When the connection drops, Celery 5.7 first "collects" the connection (which detaches the
transport from its client) and then closes it. Whatever the old channel does next needs a Redis
client it can no longer build: putting its unacknowledged messages back (at the close) and
acknowledging the task that was running (when it finishes, after the reconnect) both raise
``AttributeError: 'NoneType' object has no attribute 'hostname'`` (or ``'client'``), Celery calls
it an "Unrecoverable error" and the worker exits instead of reconnecting (found by tests/chaos:
a 10 s broker outage with tasks running stopped workers for good).

On a detached channel this QoS leaves those messages where they are, in kombu's unacked set:
Redis hands them out again after the visibility timeout, as after a crash. Interlock's due index
re-derives the work long before that, and every step is idempotent, so a late second delivery
changes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.transport import virtual

log = logging.getLogger(__name__)


class QoS(kombu_redis.QoS):
    def _detached(self) -> bool:
        transport = self.channel.connection
        return transport is None or transport.client is None

    def restore_unacked(self, client: Any = None) -> Any:
        if client is None and self._detached():
            self._delivered.clear()
            return None
        return super().restore_unacked(client)  # type: ignore[no-untyped-call]

    def ack(self, delivery_tag: Any) -> None:
        if self._detached():
            log.warning("broker connection was lost: message %s stays unacked until the visibility timeout",
                        delivery_tag)
            virtual.QoS.ack(self, delivery_tag)  # type: ignore[no-untyped-call]
            return
        super().ack(delivery_tag)  # type: ignore[no-untyped-call]

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        if self._detached():
            virtual.QoS.ack(self, delivery_tag)  # type: ignore[no-untyped-call]
            return
        super().reject(delivery_tag, requeue)  # type: ignore[no-untyped-call]


def install() -> None:
    """Make every Redis channel of this process use :class:`QoS`."""
    kombu_redis.Channel.QoS = QoS
