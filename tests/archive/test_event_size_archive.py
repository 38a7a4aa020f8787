"""Capped events archive like any other: the preview reaches Postgres, the stream is not held up.

A pushed or evaluated value larger than a few KiB is a preview in its event (interlock.eventsize);
the archive copies events from the change stream, so it holds the preview too (with the size and
digest that identify the value), and the batch that carries them commits as usual.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from pydantic_core import to_json
from sqlalchemy import Engine, text

from interlock.archive.archiver import Archiver
from interlock.model import Event, EventKind
from interlock.store.redis import RedisStore

pytestmark = pytest.mark.integration


def test_events_with_large_values_archive_as_previews(store: RedisStore, migrated: Engine) -> None:
    value = {"blob": "x" * 500_000}
    for i in range(5):
        store.append_event(Event(kind=EventKind.TRAIT_EVALUATED, pipeline_id="orders", trait_type="freshness",
                                 status="PASS", timestamp=datetime(2026, 3, 1, 0, i, tzinfo=UTC),
                                 details={"value": value, "reason": f"r{i}"}))
    result = Archiver(store, migrated, "test").run_once()
    assert result.records == 5
    with migrated.connect() as conn:
        details = [row[0] for row in conn.execute(text("SELECT details FROM events ORDER BY stream_id"))]
        traits = [row[0] for row in conn.execute(text("SELECT value FROM trait_evaluations"))]
    encoded = to_json(value)
    assert len(details) == 5 and len(traits) == 5
    for d in details:
        assert d["reason"].startswith("r")
        assert d["value"]["truncated"] is True and d["value"]["size"] == len(encoded)
        assert d["value"]["sha256"] == hashlib.sha256(encoded).hexdigest()
    assert all(t["truncated"] is True for t in traits)
