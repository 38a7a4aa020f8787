"""One error model: every domain error has a stable code, and each edge maps it in one place."""

from __future__ import annotations

import inspect

import click
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from interlock import errors
from interlock.api.app import create_app
from interlock.cli.common import Group
from interlock.errors import DomainError
from interlock.steps.advance import Outcome, advance
from tests.steps.conftest import Harness, harness

__all__ = ["harness"]

# One example of every domain error, with the HTTP status, error code and CLI exit code it must get.
# The API statuses and codes are the ones the routes answered before the error model (a contract).
EXPECTED: dict[type[DomainError], tuple[DomainError, int, str, int]] = {
    errors.DomainError: (errors.DomainError("something is off"), 400, "bad_request", 2),
    errors.NotFound: (errors.NotFound("no such thing"), 404, "not_found", 2),
    errors.BadInput: (errors.BadInput("limit must be >= 1", "limit"), 400, "bad_request", 2),
    errors.Conflict: (errors.Conflict("not now"), 409, "conflict", 2),
    errors.UnknownPipeline: (errors.UnknownPipeline("ghost"), 404, "pipeline_not_found", 2),
    errors.UnknownSchedule: (errors.UnknownSchedule("orders", "bogus", ["daily"]), 404, "schedule_not_found", 2),
    errors.UnknownTrait: (errors.UnknownTrait("orders", "nope", ["marker"]), 404, "trait_not_found", 2),
    errors.UnknownRun: (errors.UnknownRun("run-x"), 404, "run_not_found", 2),
    errors.UnknownRerun: (errors.UnknownRerun("rerun-x"), 404, "rerun_not_found", 2),
    errors.UnknownPeriod: (errors.UnknownPeriod("orders has no period 2026-02-30"), 404, "period_not_found", 2),
    errors.BadPush: (errors.BadPush("ttl must be >= 0 seconds, got -1", "ttl"), 400, "invalid_push", 2),
    errors.InvalidStepRequest: (errors.InvalidStepRequest("trigger", [("attempt", "must be at least 1")]), 400,
                                "invalid_step_request", 2),
    errors.UnknownArchetype: (errors.UnknownArchetype("orders", "gone"), 409, "archetype_not_loaded", 2),
    errors.InvalidTransition: (errors.InvalidTransition("COMPLETED", "FAILED", "run r cannot be completed"), 409,
                               "invalid_transition", 2),
    errors.RerunWithoutNewData: (errors.RerunWithoutNewData("orders", "2026-03-01", "orders-daily-2026-03-01-1",
                                                            "2026-03-01T06:00:00+00:00", None), 409,
                                  "rerun_without_new_data", 2),
    errors.RerunBudgetExhausted: (errors.RerunBudgetExhausted("orders", "2026-03-01", "retry.maxManualReruns", 1), 409,
                                  "rerun_budget_exhausted", 2),
    errors.ClaimLost: (errors.ClaimLost("orders:daily:2026-03-01"), 409, "claim_lost", 2),
    errors.InvalidCursor: (errors.InvalidCursor("'x' is not a cursor", "cursor"), 400, "invalid_cursor", 2),
    errors.InvalidLimit: (errors.InvalidLimit("limit must be 1 to 1000", "limit"), 400, "invalid_limit", 2),
    errors.UnknownState: (errors.UnknownState("unknown state 'x'", "state"), 400, "unknown_state", 2),
    errors.ClaimNotReplicated: (errors.ClaimNotReplicated("orders:daily:2026-03-01:1"), 409, "claim_not_replicated", 2),
}


def domain_errors() -> set[type[DomainError]]:
    return {cls for _, cls in inspect.getmembers(errors, inspect.isclass)
            if issubclass(cls, DomainError) and cls.__module__ == errors.__name__}


def test_no_domain_error_is_a_builtin_lookup_or_value_error() -> None:
    # `except KeyError` (or ValueError) around a step must never be how a caller means "unknown pipeline".
    assert domain_errors()
    for cls in domain_errors():
        assert not issubclass(cls, LookupError | ValueError), cls


def test_the_mapping_table_below_covers_every_domain_error() -> None:
    assert set(EXPECTED) == domain_errors()


@pytest.mark.integration
@pytest.mark.parametrize("cls", list(EXPECTED), ids=lambda cls: cls.__name__)
def test_each_domain_error_gets_its_status_code_and_exit_code(harness: Harness, cls: type[DomainError]) -> None:
    exc, status, code, exit_code = EXPECTED[cls]

    def boom() -> None:
        raise exc

    harness.archetype("marked", ["marker"])
    app = create_app(harness.deps())
    app.fastapi.add_api_route("/api/boom", boom)  # type: ignore[attr-defined]
    response = TestClient(app).get("/api/boom")
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert response.json()["error"]["message"] == str(exc)
    if isinstance(exc, errors.BadInput) and exc.path:
        assert response.json()["error"]["details"] == [{"path": exc.path, "message": str(exc)}]

    group = Group("interlock")
    group.add_command(click.Command("boom", callback=boom))
    result = CliRunner().invoke(group, ["boom"])
    assert result.exit_code == exit_code
    assert result.stderr.strip() == f"error: {exc}"
    assert isinstance(result.exception, SystemExit)  # a clean exit: no traceback


@pytest.mark.integration
def test_advance_treats_a_deleted_schedule_as_nothing_to_do(harness: Harness) -> None:
    harness.archetype("marked", ["marker"])
    harness.pipeline("orders", "marked", {}, extra="trigger:\n  type: command\n  command: {command: 'true'}\n")
    deps = harness.deps()
    deps.store.set_due("advance:orders:gone", deps.clock.now())
    assert advance(deps, "orders", "gone") is Outcome.UNKNOWN
    assert deps.store.due_at("advance:orders:gone") is None


@pytest.mark.integration
def test_advance_lets_a_bug_raising_key_error_through(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    # It used to catch every KeyError as "unknown schedule": a missing key in our own code became a
    # silent "outcome: unknown" and the pipeline was dropped from the due index.
    harness.archetype("marked", ["marker"])
    harness.pipeline("orders", "marked", {}, extra="trigger:\n  type: command\n  command: {command: 'true'}\n")
    deps = harness.deps()
    deps.store.set_due("advance:orders:daily", deps.clock.now())

    def broken(*_: object) -> object:
        return {}["scheduleId"]

    monkeypatch.setattr("interlock.steps.advance.find_schedule", broken)
    with pytest.raises(KeyError, match="scheduleId"):
        advance(deps, "orders", "daily")
    assert deps.store.due_at("advance:orders:daily") is not None  # still due: the reconcile loop retries
