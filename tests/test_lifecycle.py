"""The run state machine: the reference's, with synchronous triggers allowed to complete."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from interlock.errors import InvalidTransition
from interlock.lifecycle import can_transition, check_transition, is_terminal, move
from interlock.model import RunState, RunStatus
from interlock.store.base import Store

S = RunStatus
NOW = datetime(2026, 3, 1, tzinfo=UTC)

ALLOWED = {
    (S.PENDING, S.TRIGGERING), (S.PENDING, S.CANCELLED),
    (S.TRIGGERING, S.RUNNING), (S.TRIGGERING, S.FAILED), (S.TRIGGERING, S.CANCELLED),
    (S.TRIGGERING, S.COMPLETED), (S.TRIGGERING, S.COMPLETED_MONITORING),
    (S.RUNNING, S.COMPLETED), (S.RUNNING, S.COMPLETED_MONITORING), (S.RUNNING, S.FAILED), (S.RUNNING, S.CANCELLED),
    (S.COMPLETED_MONITORING, S.COMPLETED), (S.COMPLETED_MONITORING, S.FAILED),
}


@pytest.mark.parametrize("source", list(S))
@pytest.mark.parametrize("target", list(S))
def test_exactly_the_listed_moves_are_allowed(source: RunStatus, target: RunStatus) -> None:
    assert can_transition(source, target) == ((source, target) in ALLOWED)


def test_a_synchronous_trigger_can_complete_straight_from_triggering() -> None:
    check_transition(S.TRIGGERING, S.COMPLETED)  # the reference forbade this and left runs stuck


def test_an_illegal_move_names_both_states() -> None:
    with pytest.raises(InvalidTransition, match="invalid transition from COMPLETED to RUNNING"):
        check_transition(S.COMPLETED, S.RUNNING)


def test_unknown_states_allow_nothing() -> None:
    assert not can_transition("BOGUS", "RUNNING")
    assert not can_transition("PENDING", "BOGUS")


def test_terminal_states_are_completed_failed_cancelled_only() -> None:
    assert {s for s in S if is_terminal(s)} == {S.COMPLETED, S.FAILED, S.CANCELLED}


def _run(status: RunStatus = S.PENDING) -> RunState:
    return RunState(run_id="r1", pipeline_id="p", status=status, version=1, created_at=NOW, updated_at=NOW,
                    metadata={"scheduleId": "daily"})


def test_move_bumps_the_version_and_merges_metadata(any_store: Store) -> None:
    any_store.put_run(_run())
    moved = move(any_store, any_store.get_run("r1"), S.TRIGGERING, NOW, attempt=1)
    assert moved is not None
    stored = any_store.get_run("r1")
    assert (stored.status, stored.version, stored.metadata) == (S.TRIGGERING, 2, {"scheduleId": "daily",
                                                                                  "attempt": 1})


def test_move_from_a_stale_read_loses_and_changes_nothing(any_store: Store) -> None:
    any_store.put_run(_run())
    stale = any_store.get_run("r1")
    assert move(any_store, stale, S.TRIGGERING, NOW) is not None
    assert move(any_store, stale, S.CANCELLED, NOW) is None
    assert any_store.get_run("r1").status is S.TRIGGERING


def test_illegal_move_raises_before_touching_the_store(any_store: Store) -> None:
    any_store.put_run(_run(S.PENDING))
    with pytest.raises(InvalidTransition):
        move(any_store, any_store.get_run("r1"), S.COMPLETED_MONITORING, NOW)
    assert any_store.get_run("r1").version == 1


def test_ten_workers_moving_one_run_one_wins(any_store: Store) -> None:
    any_store.put_run(_run())
    read = any_store.get_run("r1")
    barrier = threading.Barrier(10)

    def attempt(_: int) -> bool:
        barrier.wait()
        return move(any_store, read, S.TRIGGERING, NOW) is not None

    with ThreadPoolExecutor(10) as pool:
        assert list(pool.map(attempt, range(10))).count(True) == 1
