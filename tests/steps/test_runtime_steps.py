"""advance / trigger / reconcile without workers: the decisions, with a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from interlock.clock import FrozenClock
from interlock.model import EventKind, RunStatus
from interlock.steps.advance import Outcome, advance
from interlock.steps.deps import Deps
from interlock.steps.dispatch import InlineDispatcher, RecordingDispatcher
from interlock.steps.keys import advance_key, again_key, check_key
from interlock.steps.push import push_trait
from interlock.steps.reconcile import ensure_scheduled, reconcile
from interlock.steps.runs import complete_run, run_id_for, trigger
from tests.steps.conftest import Harness

NOON = datetime(2026, 3, 2, 12, tzinfo=UTC)


def command(path: str) -> str:
    return f"trigger:\n  type: command\n  command: {{command: 'touch {path}'}}\n"


def wire(deps: Deps) -> Deps:
    """``deps`` running the trigger and advance steps it asks for (the rest left to the due index)."""
    return InlineDispatcher(deps, only={"trigger", "advance"}).deps


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOON)


def test_ready_pipeline_is_triggered_once_per_period(harness: Harness, clock: FrozenClock) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"}, extra=command("ran"))
    deps = harness.deps(clock)
    deps = wire(deps)
    assert advance(deps, "orders", "daily") is Outcome.TRIGGERED
    assert (harness.root / "ran").exists()
    assert advance(deps, "orders", "daily") is Outcome.DONE
    entry = harness.store.get_run_log("orders", "2026-03-02", "daily")
    assert entry is not None and entry.status is RunStatus.COMPLETED
    assert harness.store.due_at(advance_key("orders", "daily")) == datetime(2026, 3, 3, tzinfo=UTC)


def test_not_ready_is_checked_again_after_the_interval(harness: Harness, clock: FrozenClock) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "fail"}, extra=command("ran") + "watch: {interval: 45s}\n")
    deps = harness.deps(clock)
    recorder = RecordingDispatcher()
    deps.dispatch = recorder
    assert advance(deps, "orders", "daily") is Outcome.NOT_READY
    assert recorder.sent == []
    assert harness.store.due_at(advance_key("orders", "daily")) == NOON + timedelta(seconds=45)


def test_a_schedule_waits_for_its_after_time(harness: Harness, clock: FrozenClock) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"},
                     extra=command("ran") + "schedules:\n  - {name: evening, after: '18:00'}\n")
    deps = harness.deps(clock)
    assert advance(deps, "orders", "evening") is Outcome.WAITING
    assert harness.store.due_at(advance_key("orders", "evening")) == datetime(2026, 3, 2, 18, tzinfo=UTC)


def test_an_excluded_day_is_dormant_until_the_next_period(harness: Harness, clock: FrozenClock) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"}, extra=command("ran") + "exclusions: {days: [monday]}\n")
    deps = harness.deps(clock)  # NOON is a Monday
    assert advance(deps, "orders", "daily") is Outcome.EXCLUDED
    assert not (harness.root / "ran").exists()


def test_a_failed_trigger_waits_out_the_backoff_then_retries_then_gives_up_once(
    harness: Harness, clock: FrozenClock
) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"}, extra="trigger:\n  type: command\n  command: {command: 'false'}\n"
                     "retry: {maxAttempts: 2, backoffSeconds: 60}\n")
    deps = harness.deps(clock)
    deps = wire(deps)
    assert advance(deps, "orders", "daily") is Outcome.TRIGGERED
    entry = harness.store.get_run_log("orders", "2026-03-02", "daily")
    assert entry is not None and (entry.status, entry.attempt_number) == (RunStatus.FAILED, 1)
    assert harness.store.due_at(advance_key("orders", "daily")) == NOON + timedelta(seconds=60)
    clock.advance(timedelta(seconds=30))
    assert advance(deps, "orders", "daily") is Outcome.BACKOFF
    clock.advance(timedelta(seconds=31))
    assert advance(deps, "orders", "daily") is Outcome.TRIGGERED  # attempt 2, fails, no attempts left
    assert advance(deps, "orders", "daily") is Outcome.GAVE_UP
    assert advance(deps, "orders", "daily") is Outcome.GAVE_UP
    alerts = [a for a in harness.store.list_alerts("orders") if a.alert_type == "retry_exhausted"]
    assert len(alerts) == 1
    kinds = [r.event.kind for r in harness.store.list_events("orders", 200)]
    assert kinds.count(EventKind.RETRY_EXHAUSTED) == 1 and kinds.count(EventKind.TRIGGER_FAILED) == 2


def test_a_permanent_failure_is_not_retried(harness: Harness, clock: FrozenClock) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"},
                     extra="trigger:\n  type: command\n  command: {command: '/nonexistent/binary'}\n")
    deps = harness.deps(clock)
    deps = wire(deps)
    advance(deps, "orders", "daily")
    (alert,) = harness.store.list_alerts("orders")
    assert alert.alert_type == "non_retryable_failure"
    assert harness.store.due_at(advance_key("orders", "daily")) == datetime(2026, 3, 3, tzinfo=UTC)


def test_triggering_the_same_claim_twice_starts_one_job(harness: Harness, clock: FrozenClock) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"},
                     extra="trigger:\n  type: command\n  command: {command: 'sh -c \"echo x >> runs\"'}\n")
    deps = harness.deps(clock)
    first = trigger(deps, "orders", "daily", "2026-03-02", 1)
    second = trigger(deps, "orders", "daily", "2026-03-02", 1)
    assert first.run_id == second.run_id == run_id_for("orders", "daily", "2026-03-02", 1)
    assert (harness.root / "runs").read_text() == "x\n"


def test_a_claim_whose_reply_was_lost_and_retried_is_still_this_calls_and_its_job_runs_once(
    harness: Harness, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Redis primary ran the claim, replicated it and died before replying; the client's retry on
    # the promoted replica (interlock/redisconn.py) finds the period claimed, by this very call.
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"},
                     extra="trigger:\n  type: command\n  command: {command: 'sh -c \"echo x >> runs\"'}\n")
    deps = harness.deps(clock)
    claim = deps.store.claim

    def reply_lost(key: str, run: Any, epoch: str | None = None) -> Any:
        claim(key, run, epoch)  # ran and stored; its answer never arrived
        return claim(key, run, epoch)  # the retry's answer: taken, by a run with this call's claim id

    monkeypatch.setattr(deps.store, "claim", reply_lost)
    run = trigger(deps, "orders", "daily", "2026-03-02", 1)
    assert run.status is RunStatus.COMPLETED
    assert (harness.root / "runs").read_text() == "x\n"
    monkeypatch.undo()  # another call (a redelivered task) has a claim id of its own: it starts nothing
    assert trigger(deps, "orders", "daily", "2026-03-02", 1).status is RunStatus.COMPLETED
    assert (harness.root / "runs").read_text() == "x\n"


def test_completion_cascades_to_downstream_pipelines(harness: Harness, clock: FrozenClock) -> None:
    harness.archetype("a", ["t1"])
    harness.archetype("down", ["up"])
    harness.pipeline("bronze", "a", {"t1": "pass"}, extra=command("bronze-ran"))
    harness.pipeline("silver", "down", {}, extra=command("silver-ran"))
    (harness.root / "pipelines" / "silver.yaml").write_text(
        "name: silver\narchetype: down\ntraits:\n  up:\n    evaluator: builtin:upstream-job-log\n"
        "    config: {upstreamPipeline: bronze}\n" + command("silver-ran"))
    deps = harness.deps(clock)
    deps = wire(deps)
    advance(deps, "bronze", "daily")
    assert (harness.root / "silver-ran").exists()  # the cascade advanced silver at once


def test_completion_callback_finishes_a_running_job_and_refuses_a_second(harness: Harness, clock: FrozenClock) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("hook", "a", {"t1": "pass"},
                     extra="trigger:\n  type: http\n  http: {url: 'http://127.0.0.1:9/start'}\n")
    deps = harness.deps(clock)
    run = trigger(deps, "hook", "daily", "2026-03-02", 1)  # nothing listens on port 9: the start fails
    assert run.status is RunStatus.FAILED
    from interlock.errors import InvalidTransition

    with pytest.raises(InvalidTransition):
        complete_run(deps, run.run_id, True)


def test_reconcile_dispatches_what_is_due_and_leases_it(harness: Harness, clock: FrozenClock) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "fail"}, extra=command("ran"))
    deps = harness.deps(clock)
    recorder = RecordingDispatcher()
    deps.dispatch = recorder
    assert ensure_scheduled(deps) == 1
    harness.store.set_due(check_key("some-run"), NOON + timedelta(hours=1))  # not due yet
    assert reconcile(deps) == 1
    assert recorder.sent == [("advance", {"pipeline": "orders", "schedule": "daily"})]
    assert reconcile(deps) == 0  # leased: not sent again while its task runs
    clock.advance(timedelta(seconds=61))
    assert reconcile(deps) == 1  # the lease ran out (the task was lost): sent again


def test_push_then_advance_is_the_fast_path(harness: Harness, clock: FrozenClock, tmp_path: Path) -> None:
    harness.archetype("a", ["marker"])
    harness.pipeline("orders", "a", {}, extra=command("ran"))
    deps = harness.deps(clock)
    deps = wire(deps)
    assert advance(deps, "orders", "daily") is Outcome.NOT_READY
    push_trait(deps, "orders", "marker", "PASS")
    assert advance(deps, "orders", "daily") is Outcome.TRIGGERED
    assert (harness.root / "ran").exists()


def test_a_rerun_waits_for_ready_runs_once_and_completes_on_its_own_record(
    harness: Harness, clock: FrozenClock
) -> None:
    from interlock.steps.reruns import request_rerun, rerun

    harness.archetype("a", ["marker"])
    harness.pipeline("orders", "a", {},
                     extra="trigger:\n  type: command\n  command: {command: 'sh -c \"echo x >> runs\"'}\n")
    deps = harness.deps(clock)
    record = request_rerun(deps, "orders", "late data", date="2026-03-01")
    assert rerun(deps, record.rerun_id).status is RunStatus.PENDING  # not READY: waits
    push_trait(deps, "orders", "marker", "PASS")
    done = rerun(deps, record.rerun_id)
    assert done is not None and done.status is RunStatus.COMPLETED and done.rerun_run_id
    assert rerun(deps, record.rerun_id).status is RunStatus.COMPLETED  # a second start does nothing
    assert (harness.root / "runs").read_text() == "x\n"
    assert harness.store.get_run_log("orders", "2026-03-01", "daily") is None  # the original ledger is untouched
    kinds = [r.event.kind for r in harness.store.list_events("orders", 100)]
    assert EventKind.RERUN_REQUESTED in kinds and EventKind.RERUN_COMPLETED in kinds


def test_a_busy_advance_leaves_a_note_and_the_holder_looks_once_more(harness: Harness, clock: FrozenClock) -> None:
    """A push's advance that finds another advance evaluating (whose verdict may predate the push)
    asks it for one more look; the holder finds the note after releasing and sends that look, which
    sees the push. Without it the pipeline would wait for its next check (45 s here)."""
    harness.archetype("a", ["marker"])
    harness.pipeline("orders", "a", {}, extra=command("ran") + "watch: {interval: 45s}\n")
    deps = harness.deps(clock)
    recorder = RecordingDispatcher()
    deps.dispatch = recorder
    held = harness.store.acquire_lock(advance_key("orders", "daily"), 30)  # another advance, mid-evaluation
    assert held is not None
    push_trait(deps, "orders", "marker", "PASS")
    assert advance(deps, "orders", "daily") is Outcome.BUSY
    assert harness.store.get_value(again_key("orders", "daily")) == "1"
    harness.store.release_lock(held)

    # The holder's own look ends (here: the next advance to take the lock) and answers the note.
    assert advance(deps, "orders", "daily") is Outcome.TRIGGERED
    assert ("advance", {"pipeline": "orders", "schedule": "daily"}) in recorder.sent
    assert not harness.store.get_value(again_key("orders", "daily"))  # answered once, not again and again


def test_an_advance_that_was_never_busy_asks_for_nothing_more(harness: Harness, clock: FrozenClock) -> None:
    harness.archetype("a", ["marker"])
    harness.pipeline("orders", "a", {}, extra=command("ran"))
    deps = harness.deps(clock)
    recorder = RecordingDispatcher()
    deps.dispatch = recorder
    assert advance(deps, "orders", "daily") is Outcome.NOT_READY
    assert recorder.sent == []
