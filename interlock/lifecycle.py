"""The run state machine: which moves are legal, and making one with a compare-and-swap.

States and moves are the reference's, plus TRIGGERING→COMPLETED and
TRIGGERING→COMPLETED_MONITORING: a synchronous trigger (a command) has finished its job by the
time it returns, and the reference's own watcher made that move while its table forbade it.

A move reads nothing itself: the caller passes the run as it read it, and the CAS on its version
guarantees nobody moved it in between. Losing the CAS returns None (someone else moved it first).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from interlock.errors import InvalidTransition
from interlock.model import RunState, RunStatus
from interlock.store.base import Store

TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.PENDING: frozenset({RunStatus.TRIGGERING, RunStatus.CANCELLED}),
    RunStatus.TRIGGERING: frozenset({RunStatus.RUNNING, RunStatus.COMPLETED, RunStatus.COMPLETED_MONITORING,
                                     RunStatus.FAILED, RunStatus.CANCELLED}),
    RunStatus.RUNNING: frozenset({RunStatus.COMPLETED, RunStatus.COMPLETED_MONITORING, RunStatus.FAILED,
                                  RunStatus.CANCELLED}),
    RunStatus.COMPLETED_MONITORING: frozenset({RunStatus.COMPLETED, RunStatus.FAILED}),
    RunStatus.COMPLETED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
}


def can_transition(source: RunStatus | str, target: RunStatus | str) -> bool:
    try:
        return RunStatus(target) in TRANSITIONS.get(RunStatus(source), frozenset())
    except ValueError:
        return False


def check_transition(source: RunStatus | str, target: RunStatus | str) -> None:
    if not can_transition(source, target):
        raise InvalidTransition(source, target)


def is_terminal(status: RunStatus) -> bool:
    return not TRANSITIONS[status]


def move(store: Store, run: RunState, target: RunStatus, now: datetime, **metadata: Any) -> RunState | None:
    """Move ``run`` (as read) to ``target``, merging ``metadata``; None if someone moved it first.

    Raises InvalidTransition for a move the state machine does not allow.
    """
    check_transition(run.status, target)
    moved = run.model_copy(update={
        "status": target, "version": run.version + 1, "updated_at": now, "metadata": {**run.metadata, **metadata},
    })
    return moved if store.cas_run(run.run_id, run.version, moved) else None
