"""The state machine definition: valid (statelint), Terraform-safe, and free of the reference's traps."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from lambdas.statemachine import ASL_PATH, PLACEHOLDERS, render

ARNS = {name: f"arn:aws:lambda:eu-west-1:123456789012:function:{name.lower()}" for name in PLACEHOLDERS}
ARNS["AlertTopicArn"] = "arn:aws:sns:eu-west-1:123456789012:interlock-alerts"
LAMBDA_PLACEHOLDERS = {"${" + n + "}" for n in PLACEHOLDERS if n != "AlertTopicArn"}
# Far below Step Functions' 25 000-event history limit, whatever a pipeline is configured to do.
EVENT_BUDGET = 15_000


@pytest.fixture
def asl() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(ASL_PATH.read_text())
    return loaded


def _all_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        yield name, state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from _all_states(processor["States"])


def _targets(state: dict[str, Any]) -> set[str]:
    found = {state[k] for k in ("Next", "Default") if k in state}
    found |= {c["Next"] for c in state.get("Choices", [])}
    found |= {c["Next"] for c in state.get("Catch", [])}
    return found


def test_the_raw_file_is_json_and_holds_only_the_five_placeholders() -> None:
    text = ASL_PATH.read_text()
    json.loads(text)
    assert set(re.findall(r"\$\{[^}]*\}", text)) == {"${" + n + "}" for n in PLACEHOLDERS}
    assert "%{" not in text  # templatefile would read it as a directive
    assert "$${" not in text and "%%{" not in text  # templatefile's escapes: would render differently


def test_rendered_definition_passes_statelint() -> None:
    from statelint.config import Config  # type: ignore[import-untyped]
    from statelint.linter import Linter  # type: ignore[import-untyped]

    assert Linter.validate(render(ARNS), Config()) == []


def test_render_needs_every_placeholder() -> None:
    with pytest.raises(KeyError, match="AlertTopicArn"):
        render({k: v for k, v in ARNS.items() if k != "AlertTopicArn"})


def test_standard_shape_timeout_and_lambda_resources(asl: dict[str, Any]) -> None:
    assert 0 < asl["TimeoutSeconds"] <= 24 * 3600
    resources = {s["Resource"] for _, s in _all_states(asl["States"]) if s["Type"] == "Task"}
    assert resources >= LAMBDA_PLACEHOLDERS
    assert resources - LAMBDA_PLACEHOLDERS == {"arn:aws:states:::sns:publish"}


def test_every_transition_names_a_state_and_no_state_is_orphaned(asl: dict[str, Any]) -> None:
    states = asl["States"]
    reached = {asl["StartAt"]}
    for _, state in states.items():
        assert _targets(state) <= set(states)
        reached |= _targets(state)
    assert reached == set(states)


def test_every_choice_has_a_default_and_every_task_retries_and_catches(asl: dict[str, Any]) -> None:
    for name, state in _all_states(asl["States"]):
        if state["Type"] == "Choice":
            assert state.get("Default"), name
        if state["Type"] == "Task":
            assert state.get("Retry"), name
        if state["Type"] in ("Task", "Map") and name != "EvaluateTrait":  # the Map's own Catch covers it
            assert state.get("Catch"), name


def test_every_failure_path_releases_the_lock(asl: dict[str, Any]) -> None:
    """From any state after AcquireLock, every way out passes a release step (or the lock was never taken)."""
    states = asl["States"]
    releases = {"ReleaseLock", "ReleaseLockAndFail"}

    def ends_unreleased(name: str, seen: frozenset[str]) -> bool:
        if name in releases or name in seen:
            return False
        state = states[name]
        if state["Type"] in ("Succeed", "Fail") or state.get("End"):
            return True
        return any(ends_unreleased(t, seen | {name}) for t in _targets(state))

    for first in _targets(states["IsLockAcquired"]) - {"Done"}:
        assert not ends_unreleased(first, frozenset()), first
    for name, state in states.items():
        if state["Type"] == "Task" and name not in releases | {"AcquireLock", "AlertReleaseLockFailed"}:
            assert all(c["Next"] in states for c in state["Catch"])


def test_every_loop_passes_a_bounded_counter(asl: dict[str, Any]) -> None:
    """Remove the counter checks: what is left of the graph has no cycle."""
    states = asl["States"]
    guards = {n for n, s in states.items() if s["Type"] == "Choice"
              and any(c.get("Variable", "").startswith("$.counters.") for c in s["Choices"])}
    assert guards == {"CanWaitAgain", "CanEvaluateAgain", "CanPollAgain", "CanRetry", "CanMonitorAgain"}
    graph = {n: _targets(s) - guards for n, s in states.items() if n not in guards}

    def cyclic(name: str, path: frozenset[str]) -> bool:
        return name in path or any(cyclic(t, path | {name}) for t in graph.get(name, ()))

    assert not any(cyclic(n, frozenset()) for n in graph)


def test_loop_bounds_keep_the_history_far_below_the_limit(asl: dict[str, Any]) -> None:
    """Worst case with 20 traits: every round, poll and monitoring look used up."""
    bounds = {c["Variable"].rsplit(".", 1)[1]: c["NumericLessThan"]
              for s in asl["States"].values() if s["Type"] == "Choice" for c in s["Choices"]
              if c.get("Variable", "").startswith("$.counters.")}
    traits = 20
    # History events per pass: ~5 per Lambda task (scheduled/started/succeeded/entered/exited),
    # 2 per Pass/Choice/Wait, and 6 per Map iteration.
    readiness_round = 5 * 3 + 2 * 4 + 6 * traits + 4
    poll = 5 + 2 * 4
    monitor_look = 5 + 2 * 4
    worst = bounds["rounds"] * readiness_round + bounds["polls"] * poll + bounds["monitor"] * monitor_look + 200
    assert worst < EVENT_BUDGET


def test_the_execution_lock_outlives_the_longest_execution(asl: dict[str, Any]) -> None:
    from lambdas import orchestrator

    assert asl["TimeoutSeconds"] == orchestrator.EXECUTION_TIMEOUT
    assert asl["TimeoutSeconds"] < orchestrator.LOCK_TTL
