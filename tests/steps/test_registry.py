"""The step registry: one table from which every transport runs, routes and times the steps."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta

import pytest

from interlock.clock import FrozenClock
from interlock.model import RunStatus
from interlock.steps.advance import Outcome, run_now
from interlock.steps.deps import Deps
from interlock.steps.dispatch import InlineDispatcher, RecordingDispatcher, request_advance
from interlock.steps.keys import advance_key
from interlock.steps.registry import STEPS, Priority, bind, queues, run_step
from tests.steps.conftest import Harness

NOON = datetime(2026, 3, 2, 12, tzinfo=UTC)
TWO_SCHEDULES = ("schedules:\n  - {name: early, after: '0:00', timezone: UTC}\n"
                 "  - {name: late, after: '0:00', timezone: UTC}\n")


def latencies(deps: Deps) -> dict[str, float]:
    """Step -> how many latencies were recorded for it."""
    prefix = 'interlock_step_seconds_count{step="'
    return {name[len(prefix):-2]: value for name, value in deps.store.counts().items() if name.startswith(prefix)}


@pytest.mark.parametrize("name", sorted(STEPS))
def test_each_steps_request_model_names_the_arguments_its_function_takes(name: str) -> None:
    step = STEPS[name]
    parameters = list(inspect.signature(step.function).parameters.values())[1:]  # after deps
    parameters = [p for p in parameters if p.default is inspect.Parameter.empty or p.name in step.request.model_fields]
    fields = step.request.model_fields
    assert [p.name for p in parameters] == list(fields)  # the order positional message arguments bind in
    for parameter in parameters:
        assert (parameter.default is inspect.Parameter.empty) == fields[parameter.name].is_required(), parameter.name


def test_the_queues_are_those_the_steps_name_and_the_fast_path_is_served_first() -> None:
    assert queues() == ["alerts", "archival", "evaluation", "run_check", "schedule", "trigger"]
    assert Priority.FAST < Priority.ROUTINE  # a Redis broker takes 0 first
    assert {n for n, s in STEPS.items() if s.priority is Priority.ROUTINE} == {"archive", "check_sla", "check_stuck"}
    assert all(step.task_name == f"interlock.{name}" for name, step in STEPS.items())  # as deployed queues hold them


def test_positional_message_arguments_bind_in_request_field_order() -> None:
    assert bind("trigger", ["orders", "daily"], {"period": "2026-03-02", "attempt": 1}) == {
        "pipeline": "orders", "schedule": "daily", "period": "2026-03-02", "attempt": 1}


def test_the_inline_dispatcher_runs_any_step_and_records_its_latency(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"}, extra="trigger:\n  type: command\n  command: {command: 'true'}\n")
    inline = InlineDispatcher(harness.deps(FrozenClock(NOON)))
    inline.send("advance", pipeline="orders", schedule="daily")  # READY: asks for the trigger, which runs too
    assert [step for step, _ in inline.sent] == ["advance", "trigger"]
    run = harness.store.get_run("orders-daily-2026-03-02-1")
    assert run.status is RunStatus.COMPLETED
    assert latencies(inline.deps) == {"advance": 1.0, "trigger": 1.0}


def test_an_inline_dispatcher_limited_to_some_steps_leaves_the_rest_to_the_due_index(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"}, extra="trigger:\n  type: command\n  command: {command: 'true'}\n")
    inline = InlineDispatcher(harness.deps(FrozenClock(NOON)), only={"advance"})
    inline.send("advance", pipeline="orders", schedule="daily")
    assert [step for step, _ in inline.sent] == ["advance", "trigger"]
    assert harness.store.list_runs("orders", 5) == []  # the trigger was asked for, not run
    with pytest.raises(ValueError, match="no step is called bogus"):
        InlineDispatcher(inline.deps, only={"bogus"})


def test_a_step_that_is_not_timed_records_nothing_and_no_op_errors_return_none(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"})
    deps = harness.deps(FrozenClock(NOON))
    assert run_step(deps, "complete_run", run_id="ghost-run", success=True) is None  # UnknownRun: a duplicate
    assert run_step(deps, "check_stuck", run_id="ghost-run") is None
    assert latencies(deps) == {}


def test_request_advance_makes_each_schedule_due_now_and_asks_for_it(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"}, extra=TWO_SCHEDULES)
    deps = harness.deps(FrozenClock(NOON))
    recorder = RecordingDispatcher()
    deps.dispatch = recorder
    assert request_advance(deps, "orders") == ["early", "late"]
    assert recorder.sent == [("advance", {"pipeline": "orders", "schedule": "early"}),
                             ("advance", {"pipeline": "orders", "schedule": "late"})]
    assert [harness.store.due_at(advance_key("orders", s)) for s in ("early", "late")] == [NOON, NOON]


def test_run_now_answers_with_this_schedules_run_when_another_schedule_ran_since(harness: Harness) -> None:
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": "pass"},
                     extra=TWO_SCHEDULES + "trigger:\n  type: command\n  command: {command: 'true'}\n")
    clock = FrozenClock(NOON)
    deps = harness.deps(clock)
    early = run_now(deps, "orders", "early")
    assert (early.schedule, early.outcome) == ("early", Outcome.TRIGGERED) and early.run is not None
    clock.advance(timedelta(seconds=60))
    late = run_now(deps, "orders", "late")
    assert late.run is not None and late.run.run_id != early.run.run_id
    again = run_now(deps, "orders", "early")
    assert again.outcome is Outcome.DONE
    assert again.run is not None and again.run.run_id == early.run.run_id  # not the pipeline's latest run

