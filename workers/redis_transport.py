"""Two fixes to kombu's Redis transport: a lost broker and a message that is not a message.

**A worker that loses the broker while running a late-ack task.**

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

**A queue entry that is not a broker message.** kombu parses each entry it pops from a queue
list (``json.loads``, then builds a ``Message`` from its ``properties``) before Celery sees it, so
Celery's hooks for bad messages (``on_decode_error``, ``on_invalid_task``: see
``workers/guard.py``) never run for a list entry that is not JSON or lacks the envelope's
fields: the exception escapes the event loop, the worker exits with "Unrecoverable error", and
one such entry kills one worker. There is no hook before that parse, so :class:`Channel`
overrides the one method that pops and parses (``_brpop_read``, kombu 5.7's code with the parse
checked): an entry that is not a usable envelope is kept in the dead-letter list
(:mod:`interlock.deadletters`, under the ``dead_letter_prefix`` transport option) and dropped.
It was popped, not delivered, so there is nothing to acknowledge. The channel also remembers
which queue the message in hand came from (``delivering_from``), for the Celery-level hooks that
dead-letter what this layer lets through.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from queue import Empty
from typing import Any

import redis
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual

from interlock.deadletters import DeadLetters

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


def envelope_problem(payload: Any) -> str | None:
    """Why ``payload`` (a parsed queue entry) cannot become a kombu ``Message``; None when it can."""
    if not isinstance(payload, dict):
        return f"a queue entry must be a JSON object, got {type(payload).__name__}"
    props = payload.get("properties")
    if not isinstance(props, dict):
        return "the envelope has no 'properties' object"
    if not isinstance(props.get("delivery_tag"), str):
        return "the envelope's properties.delivery_tag is not a string"
    info = props.get("delivery_info")
    if not isinstance(info, dict) or not isinstance(info.get("exchange"), str) \
            or not isinstance(info.get("routing_key"), str):
        return "the envelope's properties.delivery_info lacks exchange and routing_key strings"
    headers = payload.get("headers")
    if headers is not None and not isinstance(headers, dict):
        return "the envelope's headers is not an object"
    if headers and "compression" in headers:  # kombu would inflate it first, however large: a bomb
        return "compressed messages are refused (Interlock never compresses)"
    for name in ("content-type", "content-encoding"):
        if payload.get(name) is not None and not isinstance(payload[name], str):
            return f"the envelope's {name} is not a string"
    body, encoding = payload.get("body"), props.get("body_encoding")
    if body is not None and not isinstance(body, str):
        return "the envelope's body is not a string"
    if encoding not in (None, "base64", "utf-8"):
        return f"unknown body_encoding {str(encoding)[:40]!r}"
    if encoding == "base64" and body:
        try:
            base64.b64decode(body, validate=True)
        except binascii.Error:
            return "the envelope's body is not valid base64"
    return None


class Channel(kombu_redis.Channel):
    QoS = QoS
    from_transport_options = (*kombu_redis.Channel.from_transport_options,  # type: ignore[assignment]
                              "dead_letter_prefix")
    #: The deployment's key prefix, under which dead letters are kept (a transport option).
    dead_letter_prefix: str | None = None
    #: The queue of the message being delivered right now (delivery is synchronous).
    delivering_from: str | None = None
    _dead_letters: DeadLetters | None = None

    def dead_letters(self) -> DeadLetters | None:
        """The deployment's dead-letter list, on this channel's Redis; None if not configured."""
        if self.dead_letter_prefix is None:
            return None
        if self._dead_letters is None:
            # The channel's own pool, without the broker's key prefix (kombu's client adds it).
            self._dead_letters = DeadLetters(redis.Redis(connection_pool=self.pool), self.dead_letter_prefix)
        return self._dead_letters

    def _brpop_read(self, **options: Any) -> bool:
        # kombu 5.7's Channel._brpop_read, with the queue entry parsed by _parse_entry.
        try:
            try:
                dest__item = self.client.parse_response(self.client.connection, "BRPOP", **options)
            except self.connection_errors:
                self.client.connection.disconnect()
                raise
            if not dest__item:
                raise Empty()
            dest, item = dest__item
            dest = _text(dest).rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(dest)
            payload = self._parse_entry(item, dest)
            if payload is not None:
                self.delivering_from = dest
                try:
                    self.connection._deliver(payload, dest)
                finally:
                    self.delivering_from = None
            return True
        finally:
            self._in_poll = None  # type: ignore[assignment]
            self._flush_brpop_reauth()  # type: ignore[no-untyped-call]

    def _parse_entry(self, item: bytes | str, queue: str) -> dict[str, Any] | None:
        """The entry as a kombu envelope, or None after dead-lettering an entry that is not one."""
        try:
            payload = json.loads(_text(item))
            problem = envelope_problem(payload)
        except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deep to parse
            payload, problem = None, f"a queue entry is not JSON: {exc}"
        if problem is None:
            return payload  # type: ignore[no-any-return]
        log.error("dropping a queue entry of %r that is not a broker message (%s); kept as a dead letter",
                  queue, problem)
        letters = self.dead_letters()
        if letters is not None:
            try:
                letters.add(item, queue, problem)
            except self.connection_errors:
                raise
            except Exception:  # keeping it must not be what stops the worker
                log.exception("could not keep the dead letter; the entry is dropped")
        return None


class SentinelChannel(Channel, kombu_redis.SentinelChannel):
    """kombu's Sentinel channel (``sentinel://`` brokers) with the same two fixes as :class:`Channel`.

    kombu's ``SentinelChannel`` subclasses its plain ``Channel`` class, not whatever
    ``Transport.Channel`` names, so replacing that attribute alone leaves Sentinel deployments
    without the read-path fix: this class puts :class:`Channel`'s overrides first in the MRO and
    keeps the Sentinel pool (``_get_pool``) and options of kombu's class.
    """

    from_transport_options = tuple(dict.fromkeys((*Channel.from_transport_options,  # type: ignore[assignment]
                                                  *kombu_redis.SentinelChannel.from_transport_options)))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def install() -> None:
    """Make every Redis channel of this process a :class:`Channel` (so it uses :class:`QoS` too), and
    every Sentinel one a :class:`SentinelChannel`."""
    kombu_redis.Channel.QoS = QoS
    kombu_redis.Transport.Channel = Channel
    kombu_redis.SentinelTransport.Channel = SentinelChannel
