"""Shadow mode (``dryRun``): a whole day through the steps starts no job and sends no alert, records
``WOULD_TRIGGER`` once per period, and never blocks the live trigger once the flag is removed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from interlock.clock import FrozenClock
from interlock.config import ConfigInvalid, load_project
from interlock.model import EventKind, RunStatus
from interlock.steps.advance import Outcome, advance
from interlock.steps.deps import Deps
from interlock.steps.dispatch import InlineDispatcher
from interlock.steps.reconcile import ensure_scheduled, reconcile
from interlock.steps.reruns import request_rerun
from interlock.steps.runs import trigger
from interlock.steps.sla import check_sla
from tests.steps.conftest import Harness

# Appends a line per start, so the test counts real starts by lines in ran.txt.
TRIGGER = "trigger:\n  type: command\n  command: {command: \"sh -c 'echo x >> ran.txt'\"}\n"
SLA = "sla: {evaluationDeadline: '09:00', completionDeadline: '12:00'}\n"
SHADOW = "dryRun: true\n"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def wire(deps: Deps) -> Deps:
    """Run the steps the due index and the advances ask for inline, as the workers would."""
    inline = InlineDispatcher(deps, only={"trigger", "advance", "check_sla", "check_run", "check_stuck", "rerun"})
    deps.dispatch = inline
    return inline.deps


def starts(harness: Harness) -> int:
    ran = harness.root / "ran.txt"
    return len(ran.read_text().splitlines()) if ran.exists() else 0


def shadow_events(harness: Harness, kind: EventKind) -> list[dict[str, object]]:
    return [e.event.details or {} for e in harness.store.list_events("orders", limit=1000) if e.event.kind is kind]


def run_day(deps: Deps, clock: FrozenClock, day: int, start_hour: int = 6) -> None:
    """Reconcile every 15 minutes from ``start_hour`` to the end of the day (the Beat loop)."""
    ensure_scheduled(deps)
    t = at(day, start_hour)
    while t < at(day, 23, 59):
        clock.set(t)
        reconcile(deps)
        t += timedelta(minutes=15)


@pytest.fixture
def ready(harness: Harness) -> Harness:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"}, extra=TRIGGER + SLA + SHADOW)
    return harness


def test_a_whole_shadow_day_starts_nothing_sends_nothing_and_would_trigger_once(ready: Harness) -> None:
    clock = FrozenClock(at(2, 6))
    deps = wire(ready.deps(clock))
    run_day(deps, clock, 2)
    assert starts(ready) == 0  # the command never ran
    assert ready.alerts_out.getvalue() == ""  # the console sink got nothing
    assert ready.store.get_run_log("orders", "2026-03-02", "daily") is None
    (event,) = shadow_events(ready, EventKind.WOULD_TRIGGER)
    assert event["runId"] == "orders-daily-2026-03-02-1" and event["period"] == "2026-03-02"
    assert event["at"] == at(2, 6).isoformat()
    # No completed run on record: the projection says it does not know, rather than guess.
    assert event["expectedDuration"] is None and event["wouldMeetDeadline"] is None
    # It would have run by 06:00, so no evaluation SLA alert is raised (not even a shadow one).
    assert not [a for a in ready.store.list_alerts("orders") if a.alert_type == "evaluation_sla_breach"]


def test_a_blocked_shadow_day_stores_its_sla_alert_marked_shadow_and_sends_it_nowhere(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "fail"}, extra=TRIGGER + SLA + SHADOW)
    clock = FrozenClock(at(2, 6))
    deps = wire(harness.deps(clock))
    run_day(deps, clock, 2)
    assert harness.alerts_out.getvalue() == ""
    breach = [a for a in harness.store.list_alerts("orders") if a.alert_type == "evaluation_sla_breach"]
    assert len(breach) == 1 and (breach[0].details or {})["shadow"] is True
    assert shadow_events(harness, EventKind.WOULD_TRIGGER) == [] and starts(harness) == 0


def test_flipping_live_in_the_same_period_triggers_for_real(ready: Harness) -> None:
    clock = FrozenClock(at(2, 6))
    deps = wire(ready.deps(clock))
    assert advance(deps, "orders", "daily") is Outcome.TRIGGERED
    assert len(shadow_events(ready, EventKind.WOULD_TRIGGER)) == 1 and starts(ready) == 0

    ready.pipeline("orders", "a", {"t1": "pass"}, extra=TRIGGER + SLA)  # dryRun removed
    clock.set(at(2, 7))
    deps = wire(ready.deps(clock))
    assert advance(deps, "orders", "daily") is Outcome.TRIGGERED
    entry = ready.store.get_run_log("orders", "2026-03-02", "daily")
    assert entry is not None and entry.status is RunStatus.COMPLETED
    assert entry.run_id == "orders-daily-2026-03-02-1" and starts(ready) == 1
    clock.set(at(2, 8))
    assert advance(deps, "orders", "daily") is Outcome.DONE and starts(ready) == 1


def test_flipping_live_the_next_period_triggers_for_real_and_projects_from_its_runs(ready: Harness) -> None:
    clock = FrozenClock(at(2, 6))
    deps = wire(ready.deps(clock))
    run_day(deps, clock, 2)
    assert starts(ready) == 0
    ready.pipeline("orders", "a", {"t1": "pass"}, extra=TRIGGER + SLA)
    deps = wire(ready.deps(clock))
    run_day(deps, clock, 3)
    assert starts(ready) == 1
    entry = ready.store.get_run_log("orders", "2026-03-03", "daily")
    assert entry is not None and entry.status is RunStatus.COMPLETED
    assert len(shadow_events(ready, EventKind.WOULD_TRIGGER)) == 1  # day 2's only

    # Back in shadow: day 4's projection uses the completed run of day 3 (it took no time: a command).
    ready.pipeline("orders", "a", {"t1": "pass"}, extra=TRIGGER + SLA + SHADOW)
    deps = wire(ready.deps(clock))
    run_day(deps, clock, 4)
    assert starts(ready) == 1
    day4 = [e for e in shadow_events(ready, EventKind.WOULD_TRIGGER) if e["period"] == "2026-03-04"]
    assert len(day4) == 1 and day4[0]["expectedDuration"] == 0.0 and day4[0]["wouldMeetDeadline"] is True


def test_the_deployment_wide_flag_applies_unless_a_pipeline_says_false(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"}, extra=TRIGGER)
    harness.pipeline("live", "a", {"t1": "pass"}, extra=TRIGGER + "dryRun: false\n")
    harness.extra = "dryRun: true\n"
    clock = FrozenClock(at(2, 6))
    deps = wire(harness.deps(clock))
    assert advance(deps, "orders", "daily") is Outcome.TRIGGERED
    assert advance(deps, "live", "daily") is Outcome.TRIGGERED
    assert starts(harness) == 1  # only the pipeline that opted out of the deployment's shadow
    assert harness.store.get_run_log("orders", "2026-03-02", "daily") is None
    assert len(shadow_events(harness, EventKind.WOULD_TRIGGER)) == 1


def test_a_later_attempt_is_would_retry_and_a_rerun_is_would_rerun(ready: Harness) -> None:
    clock = FrozenClock(at(2, 6))
    deps = wire(ready.deps(clock))
    run = trigger(deps, "orders", "daily", "2026-03-02", 2)
    assert run.metadata.get("shadow") is True and ready.store.get_run_log("orders", "2026-03-02", "daily") is None
    (retry,) = shadow_events(ready, EventKind.WOULD_RETRY)
    assert retry["attempt"] == 2 and retry["runId"] == "orders-daily-2026-03-02-2"
    record = request_rerun(deps, "orders", "late data", date="2026-03-01")
    (rerun,) = shadow_events(ready, EventKind.WOULD_RERUN)
    assert rerun["rerunId"] == record.rerun_id
    stored = ready.store.get_rerun(record.rerun_id)
    assert stored is not None and stored.status is RunStatus.CANCELLED
    assert starts(ready) == 0 and ready.alerts_out.getvalue() == ""


@pytest.mark.parametrize("value", ['"yes"', "1", "null-ish", "[true]"])
def test_dry_run_must_be_a_boolean(harness: Harness, value: str) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"}, extra=TRIGGER + f"dryRun: {value}\n")
    (harness.root / "interlock.yaml").write_text("provider: redis\narchetypeDirs: [./archetypes]\n"
                                                 "pipelineDirs: [./pipelines]\n")
    with pytest.raises(ConfigInvalid) as err:
        load_project(harness.root / "interlock.yaml", env={})
    assert "dryRun" in str(err.value) and "orders" in str(err.value)


def test_deployment_dry_run_must_be_a_boolean(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    (harness.root / "interlock.yaml").write_text("provider: redis\narchetypeDirs: [./archetypes]\n"
                                                 "pipelineDirs: [./pipelines]\ndryRun: \"yes\"\n")
    with pytest.raises(ConfigInvalid) as err:
        load_project(harness.root / "interlock.yaml", env={})
    assert "dryRun" in str(err.value)


def test_the_report_sets_would_trigger_against_the_real_start_and_names_what_held_a_period_back(
        harness: Harness) -> None:
    from interlock.shadow_report import report
    from interlock.steps.push import push_trait

    harness.archetype("a", ["t1"], optional=("job-started",))
    start = TRIGGER + SHADOW + "dryRunStartTrait: job-started\n"
    harness.pipeline("orders", "a", {"t1": "pass", "job-started": None}, extra=start)
    clock = FrozenClock(at(2, 6))
    deps = wire(harness.deps(clock))
    assert advance(deps, "orders", "daily") is Outcome.TRIGGERED
    clock.set(at(2, 7, 30))
    push_trait(deps, "orders", "job-started", "PASS")  # the old scheduler's job says it started
    harness.pipeline("orders", "a", {"t1": "fail", "job-started": None}, extra=start)
    clock.set(at(3, 6))
    deps = wire(harness.deps(clock))
    assert advance(deps, "orders", "daily") is Outcome.NOT_READY
    clock.set(at(3, 7))
    push_trait(deps, "orders", "job-started", "PASS")

    configs = [deps.pipeline("orders")]
    day2, day3 = report(harness.store, configs, {"orders"}, at(1, 0), 10_000)
    assert (day2.period, day2.would_trigger_at, day2.actual_start_at) == ("2026-03-02", at(2, 6), at(2, 7, 30))
    assert day2.to_json()["differenceSeconds"] == 5400 and day2.verdict() == "would trigger 1h30m earlier"
    assert day3.held_back and day3.blocking == ["t1"] and day3.actual_start_at == at(3, 7)
    assert day3.to_json()["verdict"] == "held back (blocking: t1); the real job ran anyway"
    # --since cuts older periods; a pipeline never in shadow is not reported.
    assert [r.period for r in report(harness.store, configs, {"orders"}, at(3, 0), 10_000)] == ["2026-03-03"]
    assert report(harness.store, configs, set(), at(3, 0), 10_000) == []


def test_a_start_trait_the_archetype_does_not_define_is_refused(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"}, extra=TRIGGER + SHADOW + "dryRunStartTrait: job-startd\n")
    (harness.root / "interlock.yaml").write_text("provider: redis\narchetypeDirs: [./archetypes]\n"
                                                 "pipelineDirs: [./pipelines]\n")
    with pytest.raises(ConfigInvalid) as err:
        load_project(harness.root / "interlock.yaml", env={})
    assert "dryRunStartTrait" in str(err.value) and "job-startd" in str(err.value)


def test_a_shadow_alert_does_not_silence_the_live_alert_of_the_same_period(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "fail"}, extra=TRIGGER + SLA + SHADOW)
    clock = FrozenClock(at(2, 6))
    deps = wire(harness.deps(clock))
    ensure_scheduled(deps)
    reconcile(deps)
    clock.set(at(2, 9, 30))
    reconcile(deps)  # the evaluation deadline has passed: a shadow breach
    assert harness.alerts_out.getvalue() == ""
    harness.pipeline("orders", "a", {"t1": "fail"}, extra=TRIGGER + SLA)  # live now, same period
    clock.set(at(2, 9, 45))
    deps = wire(harness.deps(clock))
    (alert,) = check_sla(deps, "orders", "daily")
    assert alert.alert_type == "evaluation_sla_breach" and "evaluation SLA breached" in harness.alerts_out.getvalue()
    kinds = [(a.details or {}).get("shadow") for a in harness.store.list_alerts("orders")
             if a.alert_type == "evaluation_sla_breach"]
    assert sorted(kinds, key=str) == [None, True]
