"""The archiver on DynamoDB's sharded feed: restarted half way, every record reaches Postgres once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from interlock.archive.archiver import Archiver
from interlock.model import Alert, AlertLevel, EventKind
from interlock.store.dynamodb import DynamoStore, changes_pk, parse_feed_cursor
from tests.conformance.backends import destroy, dynamo_client, new_spec
from tests.conformance.test_store_contract import event, now, run

pytestmark = pytest.mark.integration

SHARDS = 4
PIPELINES = 6


@pytest.fixture
def spec() -> Iterator[dict[str, Any]]:
    s = new_spec("dynamodb")
    yield s
    destroy(s)


def store_of(spec: dict[str, Any]) -> DynamoStore:
    return DynamoStore(dynamo_client(spec), spec["table"], change_shards=SHARDS)


def write(store: DynamoStore, start: int, count: int) -> None:
    for i in range(start, start + count):
        pipeline = f"arch-{i % PIPELINES}"
        store.append_event(event(pipeline, EventKind.TRAIT_EVALUATED, message=str(i)))
        if i % 5 == 0:
            store.put_run(run(f"arch-run-{i}", pipeline))
            store.put_alert(Alert(level=AlertLevel.ERROR, pipeline_id=pipeline, message=f"a{i}", timestamp=now()))


def archived(engine: Engine) -> tuple[dict[str, list[str]], int, int]:
    """Per pipeline the archived events' stream ids in archive order, and the run and alert counts."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT pipeline_id, stream_id FROM events ORDER BY id")).all()
        runs = conn.execute(text("SELECT count(*) FROM runs")).scalar_one()
        alerts = conn.execute(text("SELECT count(*) FROM alerts")).scalar_one()
    events: dict[str, list[str]] = {}
    for pipeline, stream_id in rows:
        events.setdefault(pipeline, []).append(stream_id)
    return events, runs, alerts


def test_an_archiver_restarted_mid_way_archives_every_record_once_in_order(
    spec: dict[str, Any], migrated: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = store_of(spec)
    write(first, 0, 40)
    archiver = Archiver(first, migrated, "dynamo-feed", batch_size=7)
    assert archiver.run_once(max_batches=2).records == 14

    # The next batch commits to Postgres, then the process dies before it trims the store.
    def die(upto: str) -> int:
        raise SystemExit("killed between commit and trim")

    monkeypatch.setattr(first, "trim_changes", die)
    with pytest.raises(SystemExit):
        archiver.archive_batch()
    committed = archiver.cursor()
    assert sum(parse_feed_cursor(committed, SHARDS).values()) == 21

    # A new process (new store, new archiver) resumes from the committed cursor while writers go on.
    writer = threading.Thread(target=write, args=(store_of(spec), 40, 30))
    writer.start()
    restarted = Archiver(store_of(spec), migrated, "dynamo-feed", batch_size=7)
    while writer.is_alive():
        restarted.run_once(max_batches=1)
    writer.join()
    restarted.run_once()

    events, runs, alerts = archived(migrated)
    assert sum(len(ids) for ids in events.values()) == 70 and runs == 14 and alerts == 14
    store = store_of(spec)
    for pipeline, ids in events.items():
        assert len(ids) == len(set(ids))  # none twice
        assert ids == sorted(ids)  # archived in the pipeline's commit order
        assert ids == [r.stream_id for r in store.read_events(pipeline, "", 100)]  # none missing
    # Nothing more: the cursor is at every shard's counter, and the store kept nothing archived.
    assert parse_feed_cursor(restarted.cursor(), SHARDS) == store._heads()
    assert store.read_changes(restarted.cursor()) == []
    assert all(list(store._query(changes_pk(k), prefix="CHANGE#")) == [] for k in range(SHARDS))
