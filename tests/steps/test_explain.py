"""explain: golden answers for a triggered, a blocked, a retried-then-exhausted and a missed period.

Each period is built through the real steps with an injected clock, then explained; the first line
(the answer) is compared exactly, and the timeline's key entries by kind and text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from interlock.clock import FrozenClock
from interlock.errors import UnknownPeriod, UnknownPipeline, UnknownSchedule
from interlock.explain import Explanation, explain
from interlock.steps.advance import Outcome, advance
from interlock.steps.deps import Deps
from interlock.steps.dispatch import InlineDispatcher
from interlock.steps.sla import check_sla
from tests.steps.conftest import Harness

TRUE = "trigger:\n  type: command\n  command: {command: 'true'}\n"
FALSE = "trigger:\n  type: command\n  command: {command: 'false'}\n"


def at(hour: int, minute: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def wire(deps: Deps) -> Deps:
    return InlineDispatcher(deps, only={"trigger", "advance"}).deps


def kinds(found: Explanation) -> list[str]:
    return [e.kind for e in found.entries]


def texts(found: Explanation, kind: str) -> list[str]:
    return [e.text for e in found.entries if e.kind == kind]


def test_a_triggered_period_answers_when_it_started_and_finished(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"}, extra=TRUE)
    clock = FrozenClock(at(6, 12))
    deps = wire(harness.deps(clock))
    assert advance(deps, "orders", "daily") is Outcome.TRIGGERED
    clock.set(at(7))
    found = explain(deps, "orders", "2026-03-02")
    assert found.summary == "triggered at 06:12 (run orders-daily-2026-03-02-1), COMPLETED at 06:12"
    assert found.outcome == "triggered" and found.source == "store"
    assert kinds(found) == ["WINDOW_OPENED", "RUN", "TRAIT_EVALUATED", "READINESS_CHECKED", "TRIGGER_FIRED",
                            "PIPELINE_COMPLETED", "RUN"]
    assert texts(found, "RUN") == ["attempt 1 claimed: run orders-daily-2026-03-02-1", "attempt 1 COMPLETED"]
    (evaluation,) = [e for e in found.entries if e.kind == "TRAIT_EVALUATED"]
    assert evaluation.text.startswith("`t1` PASS, value {'test': True}") and evaluation.duration_ms is not None
    assert found.lines()[0] == found.summary
    assert found.lines()[1] == ("orders · schedule daily · period 2026-03-02 [00:00 – 03-03 00:00, UTC] · "
                                "records: store")


def test_a_blocked_period_names_the_failing_trait_its_count_and_the_sla_breach(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "fail"}, extra=TRUE + "sla: {evaluationDeadline: '09:00'}\n")
    clock = FrozenClock(at(8))
    deps = wire(harness.deps(clock))
    for minute in (0, 20, 40):
        clock.set(at(8, minute))
        assert advance(deps, "orders", "daily") is Outcome.NOT_READY
    clock.set(at(9, 1))
    check_sla(deps, "orders", "daily")
    found = explain(deps, "orders", "2026-03-02")
    assert found.summary == ("not triggered: `t1` FAILed 3 times from 08:00 to 08:40, last value {'test': True} "
                             "(deliberate test failure); evaluation SLA breached at 09:01")
    assert found.outcome == "not_triggered"
    assert texts(found, "READINESS_CHECKED") == ["NOT_READY, blocking: t1"] * 3
    assert [e.at for e in found.entries if e.kind == "TRAIT_EVALUATED"] == [at(8), at(8, 20), at(8, 40)]
    assert "error evaluation_sla_breach: Pipeline orders evaluation SLA breached" in texts(found, "ALERT")[-1]
    assert "RUN" not in kinds(found)


def test_a_retried_then_exhausted_period_lists_each_attempt_the_backoff_and_the_give_up(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"}, extra=FALSE + "retry: {maxAttempts: 2, backoffSeconds: 60}\n")
    clock = FrozenClock(at(6))
    deps = wire(harness.deps(clock))
    assert advance(deps, "orders", "daily") is Outcome.TRIGGERED
    clock.advance(timedelta(seconds=61))
    assert advance(deps, "orders", "daily") is Outcome.TRIGGERED
    found = explain(deps, "orders", "2026-03-02")
    assert found.summary == ("triggered at 06:00 (run orders-daily-2026-03-02-1), FAILED after 2 attempts: "
                             "retry budget retry.maxAttempts exhausted after 2 attempts; "
                             "last failure: command exited with status 1")
    assert found.outcome == "failed"
    assert texts(found, "RUN") == [
        "attempt 1 claimed: run orders-daily-2026-03-02-1", "attempt 1 FAILED: command exited with status 1",
        "attempt 2 claimed: run orders-daily-2026-03-02-2", "attempt 2 FAILED: command exited with status 1"]
    assert texts(found, "RETRY_SCHEDULED") == [
        "retry (attempt 2, budget retry.maxAttempts) after 60s (at 2026-03-02T06:01:00+00:00) "
        "[run orders-daily-2026-03-02-1]"]
    assert texts(found, "RETRY_EXHAUSTED") == ["retry budget retry.maxAttempts exhausted after 2 attempts"]
    assert kinds(found).count("TRIGGER_FAILED") == 2


def test_a_missed_period_says_so_and_periods_without_records_say_why(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"}, extra=TRUE + "catchUp: skip\n")
    clock = FrozenClock(at(8))
    deps = wire(harness.deps(clock))
    advance(deps, "orders", "daily")  # seen on the 2nd; then down until the 4th
    clock.set(at(8, day=4))
    advance(deps, "orders", "daily")
    found = explain(deps, "orders", "2026-03-03")
    assert found.summary == ("not triggered: the period was missed (period 2026-03-03 passed while Interlock was "
                             "not running; catch-up policy skip: skipped)")
    assert found.outcome == "missed"
    assert kinds(found) == ["WINDOW_OPENED", "SCHEDULE_MISSED"]
    before = explain(deps, "orders", "2026-03-01")
    assert before.summary == ("no records for 2026-03-01: the pipeline was not registered then "
                              "(registered 2026-03-02T08:00:00+00:00)")
    assert (before.outcome, before.source, before.entries) == ("no_records", "none", [])
    later = explain(deps, "orders", "2026-03-09")
    assert later.summary == ("no records for 2026-03-09: the period has not opened yet "
                             "(it opens at 2026-03-09T00:00:00+00:00)")
    assert explain(deps, "orders").period.key == "2026-03-04"  # no period: the current one


def test_unknown_pipeline_schedule_and_period_are_not_found_with_stable_codes(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"}, extra=TRUE)
    deps = harness.deps(FrozenClock(at(8)))
    with pytest.raises(UnknownPipeline):
        explain(deps, "nope")
    with pytest.raises(UnknownSchedule):
        explain(deps, "orders", schedule="hourly")
    for bad in ("2026-02-30", "yesterday", "2026-03-02T0100", "x" * 500):
        with pytest.raises(UnknownPeriod) as caught:
            explain(deps, "orders", bad)
        assert caught.value.code == "period_not_found"
