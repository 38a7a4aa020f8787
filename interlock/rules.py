"""Declarative rules over a check's values: ``[{field: rows, check: gte, value: 1}, ...]``.

One module for every place a trait is decided on values: the ``builtin:*`` evaluators (``sql`` on
the first row's columns, ``object-exists`` on its count/bytes/newest, the sensor builtins on their
value) and pushed results (``PASS only if the pushed count is at least 1 000``). A PASS stands only
when every rule holds; the first rule that does not turns it into a FAIL whose reason names the
rule and the value it saw.

Checks: ``exists`` (the field is there and not null; ``value: false`` for "is absent"), ``equals``,
``in`` (a list of allowed values), ``gt``/``gte``/``lt``/``lte`` (numbers; booleans are never
numbers), ``age_lt``/``age_gt`` (a duration such as ``1h``, against a timestamp field: a datetime,
a date, or an ISO 8601 string; without a zone it is UTC). A timestamp more than a minute in the
future is never "fresh": a clock problem is not a pass.

A field is a key of the value, else a dotted path into nested objects (``stats.rows``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from interlock import timeutil

CHECKS = ("exists", "equals", "in", "gt", "gte", "lt", "lte", "age_lt", "age_gt")
_ORDER = {"gt": (1,), "gte": (0, 1), "lt": (-1,), "lte": (-1, 0)}
_RULE_KEYS = ("field", "check", "value")
# A timestamp this far in the future is tolerated as clock skew (the sensor-freshness builtin's figure).
CLOCK_SKEW = timedelta(seconds=60)
# Characters of an observed value quoted in a reason.
MAX_SHOWN = 120

Problem = tuple[tuple[Any, ...], str]


@dataclass(frozen=True)
class Rule:
    field: str
    check: str
    value: Any  # as written; ``limit`` is the parsed form
    limit: Any

    def describe(self) -> str:
        written = "" if self.check == "exists" and self.value is None else f" {_show(self.value)}"
        return f"{self.field} {self.check}{written}"


class RuleError(ValueError):
    """Rules that cannot be used; ``problems`` are (path inside the rules list, reason) pairs."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"rules[{p[0]}]{''.join(f'.{k}' for k in p[1:])}: {m}" if p else m
                                   for p, m in problems))
        self.problems = problems


@dataclass(frozen=True)
class Verdict:
    """``failed`` is None when every rule held; else the rule that did not and why."""

    failed: Rule | None = None
    index: int = -1
    saw: str = ""

    @property
    def holds(self) -> bool:
        return self.failed is None

    def reason(self) -> str:
        assert self.failed is not None
        return f"rule {self.index + 1} ({self.failed.describe()}) did not hold: {self.saw}"


def problems(raw: Any) -> list[Problem]:
    """Everything wrong with a ``rules`` list as written, each with its path (``(1, "check")``)."""
    try:
        parse(raw)
    except RuleError as exc:
        return exc.problems
    return []


def parse(raw: Any) -> list[Rule]:
    """The rules of a ``rules`` list; raises :class:`RuleError` listing every problem."""
    if not isinstance(raw, list):
        raise RuleError([((), f"rules must be a list of {{field, check, value}} objects, got {_kind(raw)}")])
    found: list[Rule] = []
    errors: list[Problem] = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            errors.append(((i,), f"a rule is an object {{field, check, value}}, got {_kind(item)}"))
            continue
        for key in item:
            if key not in _RULE_KEYS:
                errors.append(((i, key), "unknown key; a rule has field, check and value"))
        field, check = item.get("field"), item.get("check")
        if not isinstance(field, str) or not field.strip():
            errors.append(((i, "field"), "required: the name of the value to check (e.g. rows)"))
        if not isinstance(check, str) or check not in CHECKS:
            shown = "required" if check is None else f"unknown check {check!r}"
            errors.append(((i, "check"), f"{shown}; one of {', '.join(CHECKS)}"))
            continue
        try:
            limit = _limit(check, item)
        except ValueError as exc:
            errors.append(((i, "value"), str(exc)))
            continue
        if isinstance(field, str) and field.strip():
            found.append(Rule(field, check, item.get("value"), limit))
    if errors:
        raise RuleError(errors)
    return found


def _limit(check: str, item: Mapping[str, Any]) -> Any:
    if check == "exists":
        value = item.get("value", True)
        if not isinstance(value, bool):
            raise ValueError(f"exists takes true (default) or false, got {_show(value)}")
        return value
    if "value" not in item:
        raise ValueError(f"required for check {check}")
    value = item["value"]
    if check in _ORDER:
        number = _number(value)
        if number is None:
            raise ValueError(f"{check} compares numbers; got {_show(value)}")
        return number
    if check in ("age_lt", "age_gt"):
        try:
            age = timeutil.parse_duration(value)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        if age <= timedelta(0):
            raise ValueError(f"{check} needs a positive duration, got {value!r}")
        return age
    if check == "in":
        if not isinstance(value, list) or not value or not all(v is None or _scalar(v) for v in value):
            raise ValueError(f"in takes a non-empty list of strings, numbers, booleans or nulls, got {_show(value)}")
        return list(value)
    if not _scalar(value) and value is not None:  # equals
        raise ValueError(f"equals compares a string, number, boolean or null, got {_kind(value)}")
    return value


def judge(rules: Sequence[Rule], values: Mapping[str, Any] | None, now: datetime) -> Verdict:
    """Whether every rule holds over ``values`` at ``now``; never raises for any JSON-like values."""
    values = values or {}
    for i, rule in enumerate(rules):
        saw = _violation(rule, values, now)
        if saw is not None:
            return Verdict(rule, i, saw)
    return Verdict()


def lookup(values: Mapping[str, Any], field: str) -> tuple[bool, Any]:
    """(found, value) of ``field``: the key itself, else a dotted path through nested objects."""
    if field in values:
        return True, values[field]
    current: Any = values
    for part in field.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return False, None
        current = current[part]
    return True, current


def _violation(rule: Rule, values: Mapping[str, Any], now: datetime) -> str | None:
    """None when ``rule`` holds, else what was seen, in words."""
    found, seen = lookup(values, rule.field)
    if rule.check == "exists":
        present = found and seen is not None
        if present == rule.limit:
            return None
        return f"{rule.field} is {_show(seen)}" if present else f"{rule.field} is {'null' if found else 'missing'}"
    if not found:
        keys = ", ".join(sorted(str(k) for k in values)[:20]) or "none"
        return f"{rule.field} is missing (fields: {keys})"
    if rule.check == "equals":
        return None if _same(seen, rule.limit) else f"{rule.field} is {_show(seen)}"
    if rule.check == "in":
        return None if any(_same(seen, v) for v in rule.limit) else f"{rule.field} is {_show(seen)}"
    if rule.check in _ORDER:
        number = _number(seen)
        if number is None:
            return f"{rule.field} is {_show(seen)}, not a number"
        side = (number > rule.limit) - (number < rule.limit)
        return None if side in _ORDER[rule.check] else f"{rule.field} is {_show(seen)}"
    at = _timestamp(seen)
    if at is None:
        return f"{rule.field} is {_show(seen)}, not a timestamp"
    age = now - at
    shown = f"{rule.field} is {at.isoformat()}"
    if age < -CLOCK_SKEW:
        return f"{shown}, {timeutil.format_duration(-age)} in the future"
    age = max(age, timedelta(0))
    held = age < rule.limit if rule.check == "age_lt" else age > rule.limit
    return None if held else f"{shown}, age {timeutil.format_duration(age)}"


def _number(value: Any) -> int | float | Decimal | None:
    """A finite number; booleans, NaN and infinities are not numbers to compare with."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Decimal) and not value.is_finite():
        return None
    return value


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, bool)) or _number(value) is not None


def _same(seen: Any, expected: Any) -> bool:
    """Equality as a reader means it: 1 == 1.0 == Decimal(1), true is not 1, a date equals its ISO text."""
    if expected is None or seen is None:
        return seen is None and expected is None
    if isinstance(expected, bool) or isinstance(seen, bool):
        return isinstance(expected, bool) and isinstance(seen, bool) and seen is expected
    left, right = _number(seen), _number(expected)
    if left is not None and right is not None:
        return left == right
    if isinstance(seen, (date, datetime)) and isinstance(expected, str):
        return seen.isoformat() == expected
    return type(seen) is type(expected) and bool(seen == expected)


def _timestamp(value: Any) -> datetime | None:
    """An aware instant from a datetime, a date (its midnight) or ISO 8601 text; naive means UTC."""
    if isinstance(value, datetime):
        at = value
    elif isinstance(value, date):
        at = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            at = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _show(value: Any) -> str:
    text = value.isoformat() if isinstance(value, (date, datetime)) else repr(value) if isinstance(value, str) \
        else "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return text if len(text) <= MAX_SHOWN else f"{text[:MAX_SHOWN]}…"


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
