"""Dead letters: broker messages a worker could not use, kept for an operator instead of run or lost.

A message that cannot be decoded, is not addressed to a task Interlock has, or carries arguments
its step refuses (see ``interlock/steps/requests.py``) is stored here with why, then acknowledged,
so the worker goes on consuming (``workers/guard.py`` and ``workers/redis_transport.py`` put them
here). ``interlock dead-letters`` lists them and puts one back on its queue once the cause is fixed.

They live in the broker's Redis under the deployment's key prefix: a hash ``<prefix>deadletters``
(id -> record) and a sorted set ``<prefix>deadletters:order`` (id by time). Both are capped, so a
flood of bad messages costs bounded memory.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from datetime import datetime
from typing import Any

import redis

from interlock.clock import SYSTEM, Clock
from interlock.model import Record

log = logging.getLogger(__name__)

# The most of a message kept (bytes); a longer one is kept truncated and cannot be requeued.
RAW_MAX = 64 * 1024
# How many dead letters are kept; the oldest go first.
KEPT_MAX = 1000
# Characters of the message body shown in a listing.
PREVIEW_MAX = 120
# Characters of a reason kept (a reason quotes at most a little of the message).
REASON_MAX = 2000


def broker_prefix(key_prefix: str) -> str:
    """Where the Celery broker keeps its keys (queues are lists ``<this><queue>``)."""
    return f"{key_prefix}celery:"


class DeadLetterError(ValueError):
    """A dead letter that does not exist or cannot be requeued."""


class DeadLetter(Record):
    id: str
    queue: str
    reason: str
    at: datetime
    task: str | None = None
    size: int
    truncated: bool = False
    preview: str = ""
    raw: str  # base64 of the message as it was on the queue (the first RAW_MAX bytes)

    def message(self) -> bytes:
        return base64.b64decode(self.raw)


def preview_of(raw: bytes) -> str:
    """The message's body as text when it is a broker envelope, else the message itself; one short line."""
    text = raw
    try:
        envelope = json.loads(raw)
        if isinstance(envelope, dict) and isinstance(envelope.get("body"), str):
            body = envelope["body"]
            props = envelope.get("properties")
            encoding = props.get("body_encoding") if isinstance(props, dict) else None
            text = base64.b64decode(body, validate=True) if encoding == "base64" else body.encode()
    except (ValueError, RecursionError):  # not an envelope (binascii.Error is a ValueError)
        pass
    decoded = text.decode("utf-8", "backslashreplace")
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in decoded[:PREVIEW_MAX * 4])
    return shown if len(shown) <= PREVIEW_MAX else shown[:PREVIEW_MAX] + "…"


class DeadLetters:
    """The dead-letter list of one deployment (``key_prefix``) on one Redis."""

    def __init__(self, client: redis.Redis, key_prefix: str, clock: Clock = SYSTEM) -> None:
        self.r = client
        self.prefix = key_prefix
        self.clock = clock
        self.records = f"{key_prefix}deadletters"
        self.order = f"{key_prefix}deadletters:order"

    def add(self, raw: bytes | str, queue: str, reason: str, task: str | None = None) -> DeadLetter:
        """Keep ``raw`` (as read from ``queue``) with ``reason``; return the record."""
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else bytes(raw)
        kept = data[:RAW_MAX]
        letter = DeadLetter(id=uuid.uuid4().hex[:12], queue=queue[:200], reason=reason[:REASON_MAX],
                            at=self.clock.now(), task=task[:200] if task else None, size=len(data),
                            truncated=len(kept) < len(data), preview=preview_of(kept),
                            raw=base64.b64encode(kept).decode("ascii"))
        pipe = self.r.pipeline()
        pipe.hset(self.records, letter.id, json.dumps(letter.to_json()))
        pipe.zadd(self.order, {letter.id: letter.at.timestamp()})
        pipe.zcard(self.order)
        *_, count = pipe.execute()
        if int(count) > KEPT_MAX:
            self._drop_oldest(int(count) - KEPT_MAX)
        return letter

    def _drop_oldest(self, how_many: int) -> None:
        found: list[Any] = self.r.zrange(self.order, 0, how_many - 1)
        oldest = [_text(i) for i in found]
        if oldest:
            pipe = self.r.pipeline()
            pipe.zrem(self.order, *oldest)
            pipe.hdel(self.records, *oldest)
            pipe.execute()

    def list(self, limit: int | None = None) -> list[DeadLetter]:
        """Newest first; at most ``limit``."""
        newest: list[Any] = self.r.zrevrange(self.order, 0, -1 if limit is None else limit - 1)
        ids = [_text(i) for i in newest]
        if not ids:
            return []
        return [_letter(found) for found in self.r.hmget(self.records, ids) if found is not None]

    def count(self) -> int:
        return int(self.r.zcard(self.order))

    def get(self, letter_id: str) -> DeadLetter | None:
        found = self.r.hget(self.records, letter_id)
        return _letter(found) if found is not None else None

    def delete(self, letter_id: str) -> DeadLetter:
        """Remove one; raise :class:`DeadLetterError` when there is no such id."""
        letter = self.get(letter_id)
        pipe = self.r.pipeline()
        pipe.hdel(self.records, letter_id)
        pipe.zrem(self.order, letter_id)
        removed, _ = pipe.execute()
        if letter is None or not removed:
            raise DeadLetterError(f"no dead letter {letter_id!r}")
        return letter

    def requeue(self, letter_id: str) -> DeadLetter:
        """Put the message back on its queue (at the back) and remove it from the list, as one step.

        Raises :class:`DeadLetterError` for an unknown id or a message kept truncated. Two
        operators requeueing the same id at once send it once: the removal is watched.
        """
        letter = self.get(letter_id)
        if letter is None:
            raise DeadLetterError(f"no dead letter {letter_id!r}")
        if letter.truncated:
            raise DeadLetterError(f"dead letter {letter_id!r} was kept truncated ({letter.size} bytes, the first "
                                  f"{RAW_MAX} kept): it cannot be requeued; delete it")
        queue_key = broker_prefix(self.prefix) + letter.queue

        def move(pipe: Any) -> None:
            if pipe.hget(self.records, letter_id) is None:
                raise DeadLetterError(f"no dead letter {letter_id!r} (requeued or deleted meanwhile)")
            pipe.multi()
            pipe.hdel(self.records, letter_id)
            pipe.zrem(self.order, letter_id)
            pipe.lpush(queue_key, letter.message())  # kombu pushes on the left and pops on the right

        self.r.transaction(move, self.records)
        return letter

    def purge(self) -> int:
        """Remove every dead letter; return how many there were."""
        count = self.count()
        self.r.delete(self.records, self.order)
        return count


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _letter(found: bytes | str) -> DeadLetter:
    return DeadLetter.model_validate_json(found)
