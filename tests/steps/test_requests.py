"""Step arguments are checked once at the boundary: types, names, periods, attempts, and (for the
requests that start work) against the project."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from interlock.clock import FrozenClock
from interlock.steps.deps import Deps
from interlock.steps.registry import parse_request
from interlock.steps.requests import InvalidStepRequest, RunRequest, TriggerRequest
from tests.steps.conftest import Harness

GOOD = {"pipeline": "orders", "schedule": "daily", "period": "2026-03-02", "attempt": 2}


def _refused(step: str, *args: object, **kwargs: object) -> InvalidStepRequest:
    with pytest.raises(InvalidStepRequest) as caught:
        parse_request(step, args, kwargs)
    return caught.value


def test_a_well_formed_trigger_request_parses_by_name_and_by_position() -> None:
    by_name = parse_request("trigger", (), GOOD)
    assert by_name == TriggerRequest.model_validate(GOOD)
    assert parse_request("trigger", ("orders", "daily", "2026-03-02", 2), {}) == by_name


def test_the_forged_trigger_is_refused_naming_period_and_attempt() -> None:
    error = _refused("trigger", pipeline="orders", schedule="daily", period="not-a-date/../x", attempt=-1)
    fields = dict(error.problems)
    assert set(fields) == {"period", "attempt"}
    assert "expected YYYY-MM-DD" in fields["period"]
    assert "greater than or equal to 1" in fields["attempt"] and "got -1" in fields["attempt"]


@pytest.mark.parametrize(("field", "value", "why"), [
    ("attempt", 0, "greater than or equal to 1"),
    ("attempt", 101, "less than or equal to 100"),
    ("attempt", "1", "valid integer"),
    ("attempt", True, "valid integer"),
    ("period", "2026-02-30", "day is out of range"),
    ("period", 20260302, "valid string"),
    ("pipeline", "../etc", "match pattern"),
    ("pipeline", "Orders", "match pattern"),
    ("schedule", "daily;rm", "match pattern"),
    ("schedule", "x" * 65, "at most 64"),
])
def test_a_bad_trigger_field_is_named_with_why(field: str, value: object, why: str) -> None:
    error = _refused("trigger", **{**GOOD, field: value})
    assert [f for f, _ in error.problems] == [field]
    assert why in error.problems[0][1]


def test_missing_and_unexpected_arguments_are_named() -> None:
    error = _refused("advance", pipeline="orders", a=1)
    assert dict(error.problems) == {"schedule": "required", "a": "unexpected argument"}


def test_too_many_or_doubled_positional_arguments_are_refused() -> None:
    assert "at most 1 positional" in str(_refused("check_run", "r-1", "r-2"))
    assert "given both positionally and by name" in str(_refused("check_run", "r-1", run_id="r-1"))


def test_steps_without_arguments_take_none() -> None:
    parse_request("reconcile")
    assert "unexpected argument" in str(_refused("archive", force=True))


def test_an_unknown_step_and_celery_built_ins_are_refused() -> None:
    assert "no step is called 'celery.chord_unlock'" in str(_refused("celery.chord_unlock"))


def test_complete_run_metadata_must_be_an_object_and_success_a_boolean() -> None:
    parse_request("complete_run", (), {"run_id": "orders-daily-2026-03-02-1", "success": True, "metadata": {"n": 1}})
    error = _refused("complete_run", run_id="r", success="yes", metadata=[1])
    assert {f for f, _ in error.problems} == {"success", "metadata"}


def test_run_ids_keep_to_the_id_alphabet() -> None:
    assert RunRequest(run_id="rerun-orders-1a2b3c4d5e-run").run_id
    assert "match pattern" in str(_refused("check_run", run_id="x\n{}"))


# -- checked against the project (real store) ----------------------------------------------------

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def deps_orders(harness: Harness) -> Deps:
    harness.archetype("marked", ["ready-marker"])
    harness.pipeline("orders", "marked", {}, "schedules:\n  - {name: daily}\n  - {name: hourly}\n")
    return harness.deps(FrozenClock(NOW))


@pytest.mark.integration
def test_a_trigger_for_this_or_an_earlier_period_of_a_known_pipeline_passes(deps_orders: Deps) -> None:
    TriggerRequest.model_validate(GOOD).check(deps_orders)
    TriggerRequest.model_validate({**GOOD, "period": "2026-02-01", "schedule": "hourly"}).check(deps_orders)


@pytest.mark.integration
def test_a_pipeline_in_the_project_files_passes_before_the_worker_registered_it(deps_orders: Deps) -> None:
    """A worker consumes before its start-up thread has registered the project: the files know the pipeline."""
    deps_orders.store.delete_pipeline("orders")
    TriggerRequest.model_validate(GOOD).check(deps_orders)


@pytest.mark.integration
def test_a_period_that_begins_within_the_clock_skew_is_accepted(harness: Harness) -> None:
    """A sender whose clock runs a little ahead may ask for the next day just before midnight here."""
    harness.archetype("marked", ["ready-marker"])
    harness.pipeline("orders", "marked", {})
    deps = harness.deps(FrozenClock(datetime(2026, 3, 2, 23, 58, tzinfo=UTC)))
    TriggerRequest.model_validate({**GOOD, "period": "2026-03-03"}).check(deps)
    with pytest.raises(InvalidStepRequest, match="has not begun"):
        TriggerRequest.model_validate({**GOOD, "period": "2026-03-04"}).check(deps)


@pytest.mark.integration
@pytest.mark.parametrize(("change", "field", "why"), [
    ({"pipeline": "ghost"}, "pipeline", "unknown pipeline 'ghost'"),
    ({"schedule": "weekly"}, "schedule", "has no schedule 'weekly'"),
    ({"period": "2026-03-03"}, "period", "has not begun"),  # NOW is noon: 12 h away, beyond any clock skew
])
def test_a_trigger_the_project_cannot_have_sent_is_refused(deps_orders: Deps, change: dict[str, str], field: str,
                                                           why: str) -> None:
    with pytest.raises(InvalidStepRequest) as caught:
        TriggerRequest.model_validate({**GOOD, **change}).check(deps_orders)
    assert caught.value.problems[0][0] == field and why in caught.value.problems[0][1]
