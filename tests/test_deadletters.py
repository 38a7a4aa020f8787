"""The dead-letter list: what it keeps, its caps, and requeueing exactly once."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis

from interlock import deadletters
from interlock.clock import FrozenClock
from interlock.deadletters import DeadLetterError, DeadLetters, broker_prefix

pytestmark = pytest.mark.integration

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def letters() -> Iterator[DeadLetters]:
    client = redis.Redis(host="127.0.0.1", port=6379, decode_responses=True)
    prefix = f"interlock-test-{uuid.uuid4().hex[:12]}:"
    yield DeadLetters(client, prefix, FrozenClock(AT))
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)


def _envelope(body: bytes) -> bytes:
    return json.dumps({"body": base64.b64encode(body).decode(), "properties": {"body_encoding": "base64"}}).encode()


def test_a_dead_letter_keeps_the_message_its_queue_reason_time_and_a_preview_of_the_body(letters: DeadLetters) -> None:
    raw = _envelope(b'{"a": 1}')
    kept = letters.add(raw, "evaluation", "the body is not a task's [args, kwargs, options]", "interlock.advance")
    found = letters.get(kept.id)
    assert found == kept
    assert (found.queue, found.task, found.at, found.size, found.truncated) == ("evaluation", "interlock.advance", AT,
                                                                                len(raw), False)
    assert found.message() == raw and found.preview == '{"a": 1}'
    assert letters.list() == [kept] and letters.count() == 1


def test_a_preview_shows_bytes_that_are_not_text_escaped_on_one_line(letters: DeadLetters) -> None:
    assert letters.add(b"\xff\x00line\nbreak", "q", "r").preview == "\\xff\\x00line\\nbreak"


def test_a_message_nested_too_deep_to_parse_is_kept_with_a_raw_preview(letters: DeadLetters) -> None:
    assert letters.add(b"[" * 100_000, "q", "r").preview.startswith("[[[")


def test_an_oversized_message_is_kept_truncated_and_cannot_be_requeued(letters: DeadLetters) -> None:
    kept = letters.add(b"x" * (deadletters.RAW_MAX + 10), "trigger", "too big")
    assert kept.truncated and kept.size == deadletters.RAW_MAX + 10 and len(kept.message()) == deadletters.RAW_MAX
    with pytest.raises(DeadLetterError, match="truncated"):
        letters.requeue(kept.id)
    assert letters.delete(kept.id).id == kept.id and letters.count() == 0


def test_only_the_newest_are_kept(letters: DeadLetters, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deadletters, "KEPT_MAX", 3)
    ids = []
    for n in range(5):
        letters.clock = FrozenClock(AT.replace(second=n))
        ids.append(letters.add(f"m{n}".encode(), "q", "r").id)
    assert [x.id for x in letters.list()] == ids[:1:-1]
    assert letters.get(ids[0]) is None and letters.list(limit=1)[0].id == ids[-1]


def test_requeue_puts_the_exact_message_back_on_its_queue_once(letters: DeadLetters) -> None:
    raw = _envelope(b"[[], {}, {}]")
    kept = letters.add(raw, "trigger", "unknown pipeline")
    letters.requeue(kept.id)
    queue = broker_prefix(letters.prefix) + "trigger"
    assert letters.r.lrange(queue, 0, -1) == [raw.decode()]
    assert letters.get(kept.id) is None
    with pytest.raises(DeadLetterError, match="no dead letter"):
        letters.requeue(kept.id)
    assert letters.r.llen(queue) == 1


def test_unknown_ids_are_errors_and_purge_empties_the_list(letters: DeadLetters) -> None:
    with pytest.raises(DeadLetterError):
        letters.delete("nope")
    letters.add(b"a", "q", "r")
    letters.add(b"b", "q", "r")
    assert letters.purge() == 2 and letters.list() == []
