"""The Redis cost of the reaction path, counted: push -> evaluate -> trigger -> complete (bench.redis_commands).

Counting commands is deterministic, unlike timing them: these bounds keep a change from putting
round trips back on the fast path. Figures and their history: docs/scale.md, "Reaction tail".
"""

from __future__ import annotations

import pytest
import redis

from bench.redis_commands import measure
from interlock.store.redis import RedisStore

pytestmark = pytest.mark.integration

# Measured: 2 / 9 / 10 round trips (before the batching: 5 / 14 / 17, 36 in all). Of these, one per
# change of the pipeline's state-index row (the status views' counts: one in advance, two in the
# trigger), each a single script call after the batch that wrote the record.
MAX_ROUND_TRIPS = {"push": 2, "advance": 9, "trigger": 10, "total": 21}
# Measured: 123 commands executed by Redis, those inside Lua scripts included (92 before the
# batching; the state index adds about 20 per cycle and the push-to-trigger histogram a few
# HINCRBYFLOATs). The bound is on what Redis does per cycle.
MAX_SERVER_COMMANDS = 125


@pytest.fixture(scope="module")
def figures() -> dict[str, dict[str, object]]:
    return measure(cycles=2)


def test_a_push_to_a_fired_command_costs_at_most_21_round_trips(figures: dict[str, dict[str, object]]) -> None:
    trips = {step: figures[step]["round_trips"] for step in MAX_ROUND_TRIPS}
    assert all(trips[step] <= bound for step, bound in MAX_ROUND_TRIPS.items()), trips  # type: ignore[operator]


def test_the_cycle_stays_under_its_server_command_bound(figures: dict[str, dict[str, object]]) -> None:
    total = figures["total"]
    assert total["server_commands"] <= MAX_SERVER_COMMANDS, total["by_command"]  # type: ignore[operator]


def test_the_trigger_reads_the_epoch_inside_its_claim_not_apart(figures: dict[str, dict[str, object]]) -> None:
    by_command = figures["trigger"]["by_command"]
    assert isinstance(by_command, dict)
    assert "hgetall" not in by_command  # the epoch read of the old path
    assert by_command.get("hget") == 1  # the claim script's own check of the epoch id


def test_a_nested_batch_has_its_writes_in_redis_when_it_ends(store: RedisStore) -> None:
    # A step sends its next message right after a block (request_advance inside the API's batch):
    # the message's reader, on another connection, must find the writes already there.
    other = redis.Redis(host="127.0.0.1", port=6379, decode_responses=True)
    with store.batch():
        store.put_value("outer", "1")
        with store.batch():
            store.put_value("inner", "1")
        assert other.get(store.k("value", "outer")) == "1" and other.get(store.k("value", "inner")) == "1"
        store.put_value("after", "1")
        assert other.get(store.k("value", "after")) is None  # still queued
    assert other.get(store.k("value", "after")) == "1"
    other.close()


def test_writes_queued_before_an_error_are_still_written(store: RedisStore) -> None:
    with pytest.raises(RuntimeError), store.batch():
        store.put_value("before", "1")
        raise RuntimeError("a step failing midway")
    assert store.get_value("before") == "1"
