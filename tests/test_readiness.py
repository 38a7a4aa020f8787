"""Readiness rules (fixed: unknown rules and impossible thresholds are errors)."""

from __future__ import annotations

import pytest

from interlock.model import ReadinessStatus
from interlock.readiness import TraitOutcome, all_required_pass, apply_rule, majority_pass


def req(name: str, status: str) -> TraitOutcome:
    return TraitOutcome(name, True, status)


def test_all_required_pass_with_every_trait_passing_is_ready() -> None:
    outcome = all_required_pass([req("t1", "PASS"), req("t2", "PASS"), req("t3", "PASS")])
    assert outcome.status is ReadinessStatus.READY and outcome.blocking == []


def test_all_required_pass_blocks_on_exactly_the_failing_trait() -> None:
    outcome = all_required_pass([req("t1", "PASS"), req("t2", "FAIL"), req("t3", "PASS")])
    assert outcome.status is ReadinessStatus.NOT_READY and outcome.blocking == ["t2"]


def test_optional_failure_never_blocks() -> None:
    outcome = all_required_pass([req("t1", "PASS"), TraitOutcome("t2", False, "FAIL")])
    assert outcome.ready and outcome.blocking == []


def test_majority_two_of_three_is_ready() -> None:
    outcome = majority_pass([req("t1", "PASS"), req("t2", "PASS"), req("t3", "FAIL")])
    assert outcome.ready and outcome.blocking == []


def test_majority_ready_still_reports_the_failing_traits() -> None:
    outcome = majority_pass([req("t1", "PASS"), req("t2", "PASS"), req("t3", "FAIL")])
    assert outcome.failing == ["t3"]


def test_majority_one_of_three_blocks_on_the_others_in_order() -> None:
    outcome = majority_pass([req("t1", "PASS"), req("t2", "FAIL"), req("t3", "FAIL")])
    assert outcome.status is ReadinessStatus.NOT_READY and outcome.blocking == ["t2", "t3"]


def test_majority_with_threshold_one_as_float_is_ready_with_one_pass() -> None:
    outcome = apply_rule("majority-pass", [req("t1", "PASS"), req("t2", "FAIL"), req("t3", "FAIL")],
                         {"threshold": 1.0})
    assert outcome.ready and outcome.blocking == []


def test_majority_with_only_an_optional_failure_is_ready() -> None:
    outcome = majority_pass([TraitOutcome("t1", False, "FAIL")])
    assert outcome.ready and outcome.blocking == []


def test_unknown_rule_type_is_an_error_not_a_silent_fallback() -> None:
    with pytest.raises(ValueError, match="custom-rule"):
        apply_rule("custom-rule", [req("t1", "PASS"), req("t2", "FAIL")])


def test_majority_default_threshold_is_at_least_half() -> None:
    traits = [req("a", "PASS"), req("b", "PASS"), req("c", "FAIL"), req("d", "FAIL")]
    assert majority_pass(traits).ready


def test_majority_threshold_integer_and_float_agree() -> None:
    traits = [req("a", "PASS"), req("b", "PASS"), req("c", "FAIL")]
    assert apply_rule("majority-pass", traits, {"threshold": 2}) == apply_rule(
        "majority-pass", traits, {"threshold": 2.0})
    assert not apply_rule("majority-pass", traits, {"threshold": 3}).ready


@pytest.mark.parametrize("status", ["STALE", "ERROR", "pass", "FAIL", ""])
def test_only_exact_pass_counts_as_passing(status: str) -> None:
    assert all_required_pass([req("t", status)]).blocking == ["t"]


def test_threshold_above_the_required_count_is_refused() -> None:
    with pytest.raises(ValueError, match=r"outside 1\.\.3"):
        majority_pass([req("a", "PASS"), req("b", "PASS"), req("c", "PASS")], threshold=5)
