"""Retry budgets, the rerun guard and the post-run sensor timeout (issue 24, items 1-3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from interlock.clock import FrozenClock
from interlock.errors import RerunBudgetExhausted, RerunWithoutNewData
from interlock.model import Alert, EventKind, RunStatus
from interlock.steps.advance import Outcome, advance
from interlock.steps.deps import Deps
from interlock.steps.dispatch import InlineDispatcher
from interlock.steps.keys import monitor_key
from interlock.steps.monitor import monitor
from interlock.steps.push import push_trait
from interlock.steps.reruns import request_rerun, rerun
from tests.steps.conftest import Harness

NOON = datetime(2026, 3, 2, 12, tzinfo=UTC)
TRIGGER = "trigger:\n  type: command\n  command: {command: 'true'}\n"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOON)


def wire(deps: Deps) -> Deps:
    return InlineDispatcher(deps, only={"trigger", "advance"}).deps


def alerts(harness: Harness, kind: str) -> list[Alert]:
    return [a for a in harness.store.list_alerts("orders", 200) if a.alert_type == kind]


# -- 1. separate budgets ---------------------------------------------------------------------------


def test_code_failures_have_their_own_budget_beside_the_transient_one(harness: Harness, clock: FrozenClock) -> None:
    # The job fails once for a transient reason (exit 1, deleting itself), then is missing: PERMANENT.
    job = harness.root / "job.sh"
    job.write_text('#!/bin/sh\nrm -- "$0"\nexit 1\n')
    job.chmod(0o755)
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"},
                     extra=f"trigger:\n  type: command\n  command: {{command: '{job}'}}\n"
                     "retry: {maxAttempts: 2, maxCodeRetries: 1, backoffSeconds: 0}\n")
    deps = wire(harness.deps(clock))
    outcomes = [advance(deps, "orders", "daily") for _ in range(4)]
    assert outcomes == [Outcome.TRIGGERED, Outcome.TRIGGERED, Outcome.TRIGGERED, Outcome.GAVE_UP]
    entry = harness.store.get_run_log("orders", "2026-03-02", "daily")
    assert entry is not None and entry.attempt_number == 3
    assert [a.failure_category.value for a in entry.retry_history or [] if a.failure_category] == [
        "TRANSIENT", "PERMANENT", "PERMANENT"]
    (alert,) = alerts(harness, "retry_exhausted")
    assert alert.details is not None and alert.details["budget"] == "maxCodeRetries"
    assert "retry.maxCodeRetries (1 retries)" in alert.message
    assert advance(deps, "orders", "daily") is Outcome.GAVE_UP
    assert len(harness.store.list_alerts("orders", 200)) == 1


def test_by_default_a_code_failure_is_not_retried_and_the_alert_names_the_budget(
    harness: Harness, clock: FrozenClock
) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"},
                     extra="trigger:\n  type: command\n  command: {command: '/nonexistent/binary'}\n")
    deps = wire(harness.deps(clock))
    assert advance(deps, "orders", "daily") is Outcome.TRIGGERED
    assert advance(deps, "orders", "daily") is Outcome.GAVE_UP
    (alert,) = harness.store.list_alerts("orders")
    assert alert.alert_type == "non_retryable_failure" and "retry.maxCodeRetries is 0" in alert.message
    assert alert.details is not None and alert.details["budget"] == "maxCodeRetries"


def test_transient_failures_exhaust_max_attempts_and_the_alert_says_so(harness: Harness, clock: FrozenClock) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"}, extra="trigger:\n  type: command\n  command: {command: 'false'}\n"
                     "retry: {maxAttempts: 2, maxCodeRetries: 5, backoffSeconds: 0}\n")
    deps = wire(harness.deps(clock))
    assert [advance(deps, "orders", "daily") for _ in range(3)] == [Outcome.TRIGGERED, Outcome.TRIGGERED,
                                                                    Outcome.GAVE_UP]
    (alert,) = alerts(harness, "retry_exhausted")
    assert alert.details is not None and alert.details["budget"] == "maxAttempts"
    assert "retry.maxAttempts (2 attempts)" in alert.message


def monitored(harness: Harness, extra: str) -> Deps:
    """orders: one pushed trait t1, a synchronous trigger, monitoring on; run at NOON, COMPLETED_MONITORING."""
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": None}, extra=TRIGGER + extra)
    deps = wire(harness.deps(FrozenClock(NOON - timedelta(minutes=5))))
    push_trait(deps, "orders", "t1", "PASS")
    return deps


def test_drift_reruns_stop_at_max_drift_reruns_with_one_alert(harness: Harness) -> None:
    deps = monitored(harness, "watch: {monitoring: {enabled: true}}\nretry: {maxDriftReruns: 1}\n")
    clock = deps.clock
    assert isinstance(clock, FrozenClock)
    clock.set(NOON)
    assert advance(deps, "orders", "daily") is Outcome.TRIGGERED
    first = harness.store.get_run_log("orders", "2026-03-02", "daily")
    assert first is not None and first.status is RunStatus.COMPLETED_MONITORING
    clock.advance(timedelta(minutes=10))
    push_trait(deps, "orders", "t1", "FAIL")
    monitor(deps, first.run_id)  # drift: the one rerun the budget allows
    (requested,) = harness.store.list_reruns("orders")
    clock.advance(timedelta(minutes=10))
    push_trait(deps, "orders", "t1", "PASS")
    rerun(deps, requested.rerun_id)
    record = harness.store.get_rerun(requested.rerun_id)
    assert record is not None and record.rerun_run_id is not None
    assert harness.store.get_run(record.rerun_run_id).status is RunStatus.COMPLETED_MONITORING
    clock.advance(timedelta(minutes=10))
    push_trait(deps, "orders", "t1", "FAIL")
    monitor(deps, record.rerun_run_id)  # drift again: budget used up
    assert len(harness.store.list_reruns("orders")) == 1
    (alert,) = alerts(harness, "rerun_budget_exhausted")
    assert alert.details is not None and alert.details["budget"] == "maxDriftReruns"
    assert "retry.maxDriftReruns (1)" in alert.message
    assert harness.store.get_run(record.rerun_run_id).status is RunStatus.COMPLETED


# -- 1 and 2. manual reruns: the guard and the budget ----------------------------------------------


def test_a_manual_rerun_without_new_data_is_refused_naming_the_last_run_and_the_newest_trait(
    harness: Harness,
) -> None:
    deps = monitored(harness, "retry: {maxManualReruns: 2}\n")
    clock = deps.clock
    assert isinstance(clock, FrozenClock)
    clock.set(NOON)
    assert advance(deps, "orders", "daily") is Outcome.TRIGGERED
    clock.advance(timedelta(minutes=30))
    with pytest.raises(RerunWithoutNewData) as refused:
        request_rerun(deps, "orders", "late data")
    assert refused.value.code == "rerun_without_new_data"
    assert "orders-daily-2026-03-02-1" in refused.value.message
    assert "2026-03-02T11:55:00+00:00" in refused.value.message  # the push before the run
    assert harness.store.list_reruns("orders") == []

    forced = request_rerun(deps, "orders", "late data", force=True)  # first of two allowed
    assert forced.metadata is not None and forced.metadata["forced"] is True
    with pytest.raises(RerunWithoutNewData) as again:
        request_rerun(deps, "orders", "late data")  # the forced rerun is now the last run
    assert forced.rerun_id in again.value.message

    clock.advance(timedelta(minutes=5))
    push_trait(deps, "orders", "t1", "PASS")  # new data
    second = request_rerun(deps, "orders", "new file landed")
    assert second.status is RunStatus.PENDING

    clock.advance(timedelta(minutes=5))
    for _ in range(2):  # the budget: refused, alerted once
        with pytest.raises(RerunBudgetExhausted) as spent:
            request_rerun(deps, "orders", "once more", force=True)
        assert spent.value.code == "rerun_budget_exhausted" and "retry.maxManualReruns (2)" in spent.value.message
    (alert,) = alerts(harness, "rerun_budget_exhausted")
    assert alert.details is not None and alert.details["budget"] == "maxManualReruns"
    assert len(harness.store.list_reruns("orders")) == 2


def test_a_rerun_of_a_period_that_never_ran_needs_no_new_data(harness: Harness) -> None:
    deps = monitored(harness, "")
    record = request_rerun(deps, "orders", "backfill", date="2026-03-01")
    assert record.original_run_id is None and record.status is RunStatus.PENDING


# -- 3. post-run sensor timeout --------------------------------------------------------------------


def sensor_project(harness: Harness) -> tuple[Deps, FrozenClock, str]:
    """t1 evaluated (it reports at every monitoring check), t2 pushed; completed at NOON, monitoring on."""
    harness.archetype("a", ["t1", "t2"])
    harness.pipeline("orders", "a", {"t1": "pass", "t2": None}, extra=TRIGGER +
                     "watch: {interval: 10m, monitoring: {enabled: true, duration: 2h, sensorTimeout: 25m}}\n")
    clock = FrozenClock(NOON - timedelta(minutes=5))
    deps = wire(harness.deps(clock))
    push_trait(deps, "orders", "t2", "PASS")
    clock.set(NOON)
    assert advance(deps, "orders", "daily") is Outcome.TRIGGERED
    entry = harness.store.get_run_log("orders", "2026-03-02", "daily")
    assert entry is not None and entry.status is RunStatus.COMPLETED_MONITORING
    return deps, clock, entry.run_id


def test_a_trait_that_never_reports_after_the_run_raises_post_run_sensor_missing_once(harness: Harness) -> None:
    deps, clock, run_id = sensor_project(harness)
    clock.set(NOON + timedelta(minutes=20))
    monitor(deps, run_id)
    assert alerts(harness, "post_run_sensor_missing") == []
    # The next look is the timeout itself, not 20m + the 10m interval.
    assert harness.store.due_at(monitor_key(run_id)) == NOON + timedelta(minutes=25)
    clock.set(NOON + timedelta(minutes=25))
    monitor(deps, run_id)
    clock.set(NOON + timedelta(minutes=35))
    monitor(deps, run_id)
    (alert,) = alerts(harness, "post_run_sensor_missing")
    assert alert.details is not None and alert.details["missingTraits"] == ["t2"]
    assert "monitoring.sensorTimeout (25m)" in alert.message and run_id in alert.message
    kinds = [r.event.kind for r in harness.store.list_events("orders", 200)]
    assert EventKind.MONITORING_DRIFT_DETECTED not in kinds  # a silent sensor is not drift


def test_a_trait_pushed_after_the_run_reports_in_time(harness: Harness) -> None:
    deps, clock, run_id = sensor_project(harness)
    clock.set(NOON + timedelta(minutes=15))
    push_trait(deps, "orders", "t2", "PASS")
    clock.set(NOON + timedelta(minutes=30))
    monitor(deps, run_id)
    assert alerts(harness, "post_run_sensor_missing") == []
