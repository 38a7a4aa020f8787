"""Declarative rules (interlock.rules): what each check means, pinned by examples and by properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interlock import rules

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

numbers = st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=False, allow_infinity=False, width=64),
                    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-10**9, max_value=10**9))
scalars = st.one_of(st.none(), st.booleans(), st.text(max_size=20), st.integers(),
                    st.floats(allow_nan=False, allow_infinity=False))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=12)
rule_values = st.one_of(scalars, st.lists(scalars, max_size=3), st.sampled_from(["1h", "30m", "0", "-1h", "x"]))


def rule(field: str, check: str, value: Any = None) -> rules.Rule:
    raw: dict[str, Any] = {"field": field, "check": check}
    if value is not None:
        raw["value"] = value
    return rules.parse([raw])[0]


def holds(r: rules.Rule, values: dict[str, Any], now: datetime = NOW) -> bool:
    return rules.judge([r], values, now).holds


# -- examples -------------------------------------------------------------------------------------


def test_a_failing_rule_is_named_with_the_value_it_saw() -> None:
    checks = rules.parse([{"field": "rows", "check": "gte", "value": 1},
                          {"field": "loaded_at", "check": "age_lt", "value": "1h"}])
    verdict = rules.judge(checks, {"rows": 5, "loaded_at": "2026-03-01T09:00:00Z"}, NOW)
    assert not verdict.holds
    assert verdict.reason() == ("rule 2 (loaded_at age_lt '1h') did not hold: "
                                "loaded_at is 2026-03-01T09:00:00+00:00, age 3h0m0s")


def test_pushed_count_below_threshold_fails_naming_the_count() -> None:
    verdict = rules.judge(rules.parse([{"field": "count", "check": "gte", "value": 1000}]), {"count": 999}, NOW)
    assert verdict.reason() == "rule 1 (count gte 1000) did not hold: count is 999"


def test_missing_field_fails_and_lists_the_fields_there() -> None:
    verdict = rules.judge([rule("rows", "gt", 0)], {"count": 3, "bytes": 10}, NOW)
    assert verdict.saw == "rows is missing (fields: bytes, count)"


def test_exists_and_its_negation() -> None:
    assert holds(rule("x", "exists"), {"x": 0})
    assert not holds(rule("x", "exists"), {"x": None})
    assert not holds(rule("x", "exists"), {})
    assert holds(rule("x", "exists", False), {})
    assert not holds(rule("x", "exists", False), {"x": 1})


def test_booleans_are_not_numbers_and_true_is_not_one() -> None:
    assert not holds(rule("ok", "gte", 1), {"ok": True})
    assert not holds(rule("ok", "equals", 1), {"ok": True})
    assert holds(rule("ok", "equals", True), {"ok": True})


def test_sql_values_compare_as_people_mean() -> None:
    assert holds(rule("n", "equals", 10), {"n": Decimal("10.0")})
    assert holds(rule("day", "equals", "2026-03-01"), {"day": date(2026, 3, 1)})
    naive_recent = datetime(2026, 3, 1, 11, 30)  # a timestamp without zone is UTC
    assert holds(rule("loaded_at", "age_lt", "1h"), {"loaded_at": naive_recent})
    assert holds(rule("loaded_at", "age_gt", "1h"), {"loaded_at": date(2026, 2, 28)})


def test_a_timestamp_in_the_future_is_not_fresh() -> None:
    verdict = rules.judge([rule("at", "age_lt", "1h")], {"at": (NOW + timedelta(hours=2)).isoformat()}, NOW)
    assert not verdict.holds and "in the future" in verdict.saw


def test_dotted_field_reads_nested_values() -> None:
    assert holds(rule("stats.rows", "gt", 0), {"stats": {"rows": 3}})
    assert holds(rule("a.b", "equals", 1), {"a.b": 1, "a": {"b": 2}})  # the key itself wins


@pytest.mark.parametrize(("raw", "message"), [
    ([{"field": "n", "check": "greater", "value": 1}], "unknown check 'greater'; one of exists, equals"),
    ([{"check": "gte", "value": 1}], "required: the name of the value"),
    ([{"field": "n", "check": "gte", "value": "ten"}], "gte compares numbers"),
    ([{"field": "n", "check": "gte"}], "required for check gte"),
    ([{"field": "t", "check": "age_lt", "value": "1 day"}], "invalid duration"),
    ([{"field": "t", "check": "age_lt", "value": "-1h"}], "positive duration"),
    ([{"field": "n", "check": "in", "value": []}], "non-empty list"),
    ([{"field": "n", "check": "equals", "value": {"a": 1}}], "equals compares a string"),
    ([{"field": "n", "check": "exists", "value": "yes"}], "exists takes true"),
    ([{"field": "n", "check": "gte", "value": 1, "op": "x"}], "unknown key"),
    ({"field": "n"}, "rules must be a list"),
    (["n >= 1"], "a rule is an object"),
])
def test_bad_rules_are_refused_with_the_reason(raw: Any, message: str) -> None:
    with pytest.raises(rules.RuleError) as caught:
        rules.parse(raw)
    assert message in str(caught.value)


# -- properties -----------------------------------------------------------------------------------


@given(numbers, numbers)
def test_exactly_one_of_lt_equals_gt_holds(seen: Any, limit: Any) -> None:
    lt, eq, gt = (holds(rule("n", c, limit), {"n": seen}) for c in ("lt", "equals", "gt"))
    assert [lt, eq, gt].count(True) == 1


@given(numbers, numbers)
def test_gte_is_not_lt_and_lte_is_not_gt(seen: Any, limit: Any) -> None:
    values = {"n": seen}
    assert holds(rule("n", "gte", limit), values) is not holds(rule("n", "lt", limit), values)
    assert holds(rule("n", "lte", limit), values) is not holds(rule("n", "gt", limit), values)


@given(scalars, st.lists(scalars, min_size=1, max_size=5))
def test_in_holds_when_one_of_the_values_equals(seen: Any, allowed: list[Any]) -> None:
    equals = [rules.parse([{"field": "x", "check": "equals", "value": v}])[0] for v in allowed]
    expected = any(holds(r, {"x": seen}) for r in equals)
    assert holds(rules.parse([{"field": "x", "check": "in", "value": allowed}])[0], {"x": seen}) is expected


@given(st.integers(0, 10**7), st.integers(1, 10**6))
def test_age_lt_and_age_gt_never_both_hold(age_seconds: int, limit_seconds: int) -> None:
    at = (NOW - timedelta(seconds=age_seconds)).isoformat()
    limit = f"{limit_seconds}s"
    young, old = holds(rule("t", "age_lt", limit), {"t": at}), holds(rule("t", "age_gt", limit), {"t": at})
    assert not (young and old)
    assert (young or old) is (age_seconds != limit_seconds)


@given(st.dictionaries(st.text(max_size=6), json_values, max_size=5), st.text(min_size=1, max_size=6),
       st.sampled_from(rules.CHECKS), rule_values)
def test_judging_never_raises_and_a_failure_names_the_field(values: dict[str, Any], field: str, check: str,
                                                            value: Any) -> None:
    raw: dict[str, Any] = {"field": field, "check": check, "value": value}
    try:
        parsed = rules.parse([raw])
    except rules.RuleError:
        return  # refused at load: never reaches judge
    verdict = rules.judge(parsed, values, NOW)
    if not verdict.holds:
        assert verdict.reason().startswith(f"rule 1 ({field} {check}")
        assert field in verdict.saw


@given(st.text(min_size=1, max_size=12).filter(lambda c: c not in rules.CHECKS))
def test_unknown_checks_are_refused_naming_the_known_ones(check: str) -> None:
    with pytest.raises(rules.RuleError) as caught:
        rules.parse([{"field": "n", "check": check, "value": 1}])
    assert "one of exists, equals, in, gt, gte, lt, lte, age_lt, age_gt" in str(caught.value)
