"""Evaluators that run in-process, reading sensor readings and run logs from the store.

``builtin:sensor-freshness``, ``builtin:sensor-threshold``, ``builtin:window-completeness``,
``builtin:data-quality`` read the latest reading an ETL job wrote for (pipeline, sensorType);
``builtin:upstream-job-log`` (alias ``builtin:upstream``) passes when the upstream pipeline's run
for the same date and schedule completed; with ``upstreamPeriods: day`` it passes when every period
of the upstream's schedule that opens on the downstream period's business date completed (an
hourly upstream feeding a daily downstream waits for all of the day's hours). ``builtin:sql``
(:mod:`interlock.evaluators.sql`) runs a read query; ``builtin:object-exists``
(:mod:`interlock.evaluators.objects`) looks for files and S3 objects.

Every builtin takes ``rules`` (:mod:`interlock.rules`): ``sql`` and ``object-exists`` decide with
them; on the others a PASS stands only when the rules also hold over its value.

Decisions where the reference was loose: booleans are never numbers; a sensor
timestamp in the future is not "fresh" (a clock problem is an ERROR); a data-quality check whose
sensor lacks ``nullRate`` while ``maxNullRate`` is configured fails instead of passing; an
upstream in COMPLETED_MONITORING counts as completed (its job succeeded).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from interlock import rules, timeutil
from interlock.clock import Clock
from interlock.errors import UnknownPipeline, UnknownSchedule
from interlock.evaluators.base import EvaluationRequest, EvaluatorOutput
from interlock.model import DEFAULT_SCHEDULE, SUCCEEDED_RUN_STATUSES, FailureCategory, TraitStatus
from interlock.periods import periods_between
from interlock.schedule import find_schedule, schedule_zone
from interlock.store.base import SensorReading, Store

# A sensor timestamp this far in the future is tolerated as clock skew.
CLOCK_SKEW = timedelta(seconds=60)

# (context, request, timeout in seconds) -> answer
Handler = Callable[["BuiltinContext", EvaluationRequest, float], EvaluatorOutput]


class BuiltinContext:
    """What builtins may use: the store, the clock, the project folder and the ``${INTERLOCK_*}`` environment."""

    def __init__(self, store: Store, clock: Clock, *, root: Path | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.store = store
        self.clock = clock
        self.root = root
        self.environ = os.environ if environ is None else environ

    def period_start(self, request: EvaluationRequest) -> datetime | None:
        """When the request's period opened: ``periodStart`` if the runner sent it, else midnight of
        its date in the schedule's time zone; None when neither can be known."""
        given = request.config.get("periodStart")
        if isinstance(given, str):
            try:
                at = datetime.fromisoformat(given)
            except ValueError:
                at = None
            if at is not None and at.tzinfo is not None:
                return at
        from interlock.evaluators.objects import start_of_date

        period = str(request.config.get("period") or request.config.get("date") or "")
        try:
            pipeline = self.store.get_pipeline(request.pipeline_id)
            schedule = find_schedule(pipeline, request.config.get("scheduleId") or None)
        except (UnknownPipeline, UnknownSchedule):
            return None
        return start_of_date(period, schedule_zone(pipeline, schedule))


def _fail(reason: str, value: dict[str, Any] | None = None) -> EvaluatorOutput:
    return EvaluatorOutput(TraitStatus.FAIL, value, reason)


def _pass(reason: str, value: dict[str, Any] | None = None) -> EvaluatorOutput:
    return EvaluatorOutput(TraitStatus.PASS, value, reason)


def _config_error(reason: str) -> EvaluatorOutput:
    return EvaluatorOutput.error(reason, FailureCategory.PERMANENT)


def _number(value: Any) -> float | None:
    """A finite JSON number; booleans, NaN and infinities are not numbers to compare with."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _required_str(config: dict[str, Any], key: str) -> str | EvaluatorOutput:
    if key not in config:
        return _config_error(f"config missing: {key}")
    value = config[key]
    if not isinstance(value, str) or not value:
        return _config_error(f"config invalid: {key} must be a non-empty string")
    return value


def _reading(ctx: BuiltinContext, request: EvaluationRequest) -> tuple[str, SensorReading] | EvaluatorOutput:
    """The config's ``sensorType`` and its latest reading, or the FAIL/ERROR that ends the check."""
    sensor_type = _required_str(request.config, "sensorType")
    if isinstance(sensor_type, EvaluatorOutput):
        return sensor_type
    reading = ctx.store.get_sensor(request.pipeline_id, sensor_type)
    if reading is None:
        return _fail(f"no sensor data for {request.pipeline_id}/{sensor_type}")
    return sensor_type, reading


def _sensor(ctx: BuiltinContext, request: EvaluationRequest) -> tuple[str, dict[str, Any]] | EvaluatorOutput:
    found = _reading(ctx, request)
    return found if isinstance(found, EvaluatorOutput) else (found[0], found[1].value)


def sensor_threshold(ctx: BuiltinContext, request: EvaluationRequest, timeout: float = 0.0) -> EvaluatorOutput:
    found = _sensor(ctx, request)
    if isinstance(found, EvaluatorOutput):
        return found
    sensor_type, reading = found
    value = _number(reading.get(sensor_type))
    value = value if value is not None else _number(reading.get("value"))
    if value is None:
        return _fail(f"sensor {sensor_type} has no numeric value")
    low, high = _number(request.config.get("min")), _number(request.config.get("max"))
    if low is not None and value < low:
        return _fail(f"sensor {sensor_type} value {value:.2f} below min {low:.2f}", {"value": value, "min": low})
    if high is not None and value > high:
        return _fail(f"sensor {sensor_type} value {value:.2f} above max {high:.2f}", {"value": value, "max": high})
    return _pass(f"sensor {sensor_type} value {value:.2f} within thresholds", {"value": value})


def sensor_freshness(ctx: BuiltinContext, request: EvaluationRequest, timeout: float = 0.0) -> EvaluatorOutput:
    raw = _required_str(request.config, "maxAge")
    if isinstance(raw, EvaluatorOutput):
        return raw
    try:
        max_age = timeutil.parse_duration(raw)
    except ValueError as exc:
        return _config_error(f"invalid maxAge duration {raw!r}: {exc}")
    found = _reading(ctx, request)
    if isinstance(found, EvaluatorOutput):
        return found
    sensor_type, reading = found
    age = ctx.clock.now() - reading.updated_at
    value = {"updatedAt": reading.updated_at.isoformat(), "ageSeconds": int(age.total_seconds()),
             "maxAgeSeconds": int(max_age.total_seconds())}
    if age < -CLOCK_SKEW:
        return EvaluatorOutput(TraitStatus.ERROR, value,
                               f"sensor {sensor_type} updatedAt is {-age.total_seconds():.0f}s in the future",
                               FailureCategory.PERMANENT)
    shown = timeutil.format_duration(timedelta(seconds=int(max(age.total_seconds(), 0))))
    if age > max_age:
        return _fail(f"sensor {sensor_type} is stale: age {shown} exceeds maxAge {raw}", value)
    return _pass(f"sensor {sensor_type} is fresh: age {shown} within maxAge {raw}", value)


def window_completeness(ctx: BuiltinContext, request: EvaluationRequest, timeout: float = 0.0) -> EvaluatorOutput:
    found = _sensor(ctx, request)
    if isinstance(found, EvaluatorOutput):
        return found
    _, reading = found
    windows = reading.get("windows")
    actual = [w for w in windows if isinstance(w, str)] if isinstance(windows, list) else []
    expected = request.config.get("expectedWindows")
    if expected is not None:
        if not isinstance(expected, list) or not all(isinstance(w, str) for w in expected):
            return _config_error("config invalid: expectedWindows must be a string array")
        missing = [w for w in expected if w not in actual]
        if missing:
            return _fail(f"missing {len(missing)} of {len(expected)} expected windows",
                         {"missing": missing, "actual": len(actual), "expected": len(expected)})
        return _pass(f"all {len(expected)} expected windows present", {"windowCount": len(actual)})
    if "expectedCount" in request.config:
        count = _number(request.config["expectedCount"])
        if count is None:
            return _config_error("config invalid: expectedCount must be numeric")
        have = max(float(len(actual)), _number(reading.get("count")) or 0.0)
        if have < count:
            return _fail(f"window count {have:.0f} below expected {count:.0f}", {"actual": have, "expected": count})
        return _pass(f"window count {have:.0f} meets expected {count:.0f}", {"windowCount": have})
    return _config_error("config missing: expectedWindows or expectedCount required")


def data_quality(ctx: BuiltinContext, request: EvaluationRequest, timeout: float = 0.0) -> EvaluatorOutput:
    found = _sensor(ctx, request)
    if isinstance(found, EvaluatorOutput):
        return found
    sensor_type, reading = found
    if "maxNullRate" in request.config:
        limit = _number(request.config["maxNullRate"])
        if limit is None:
            return _config_error("config invalid: maxNullRate must be numeric")
        rate = _number(reading.get("nullRate"))
        if rate is None:
            return _fail(f"sensor {sensor_type} has no numeric nullRate to check against maxNullRate")
        if rate > limit:
            return _fail(f"null rate {rate:.4f} exceeds max {limit:.4f}", {"nullRate": rate, "maxNullRate": limit})
    if request.config.get("allowSchemaDrift") is not True and reading.get("schemaDrift") is True:
        details = reading.get("schemaDriftDetails") or ""
        return _fail(f"schema drift detected: {details}", {"schemaDrift": True, "schemaDriftDetails": details})
    return _pass(f"data quality checks passed for sensor {sensor_type}", dict(reading))


def upstream_job_log(ctx: BuiltinContext, request: EvaluationRequest, timeout: float = 0.0) -> EvaluatorOutput:
    upstream = _required_str(request.config, "upstreamPipeline")
    if isinstance(upstream, EvaluatorOutput):
        return upstream
    date = _required_str(request.config, "date")
    if isinstance(date, EvaluatorOutput):
        return date
    schedule = str(request.config.get("upstreamSchedule") or request.config.get("scheduleId") or DEFAULT_SCHEDULE)
    periods = request.config.get("upstreamPeriods", "same")
    if periods == "day":
        return _upstream_day(ctx, upstream, schedule, date)
    if periods != "same":
        return _config_error(f"config invalid: upstreamPeriods must be 'same' or 'day', got {periods!r}")
    entry = ctx.store.get_run_log(upstream, date, schedule)
    if entry is None:
        return _fail(f"upstream {upstream} has no run log for {date}/{schedule}")
    if entry.status in SUCCEEDED_RUN_STATUSES:
        return _pass(f"upstream {upstream} completed for {date}/{schedule}",
                     {"upstreamRunId": entry.run_id,
                      "completedAt": entry.completed_at.isoformat() if entry.completed_at else None})
    return _fail(f"upstream {upstream} status is {entry.status.value} for {date}/{schedule}")


def sql(ctx: BuiltinContext, request: EvaluationRequest, timeout: float) -> EvaluatorOutput:
    from interlock.evaluators.sql import evaluate_sql  # SQLAlchemy is loaded by the processes that use it

    return evaluate_sql(request, timeout, ctx.environ, ctx.clock.now())


def object_exists(ctx: BuiltinContext, request: EvaluationRequest, timeout: float) -> EvaluatorOutput:
    from interlock.evaluators.objects import PERIOD_START, evaluate_objects

    start = ctx.period_start(request) if request.config.get("newerThan") == PERIOD_START else None
    return evaluate_objects(request, timeout, ctx.root, ctx.clock.now(), start)


def _upstream_day(ctx: BuiltinContext, upstream: str, schedule: str, period: str) -> EvaluatorOutput:
    """Every period of ``upstream``'s ``schedule`` opening on the business date of ``period`` completed."""
    try:
        day = date.fromisoformat(period[:10])  # a daily key is the date; a cron key starts with it
        config = ctx.store.get_pipeline(upstream)
        sched = find_schedule(config, schedule)
    except (ValueError, UnknownPipeline, UnknownSchedule) as exc:
        return _config_error(f"upstream {upstream}/{schedule} for {period}: {exc}")
    zone = schedule_zone(config, sched)
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    wanted = [p for p in periods_between(config, sched, start, end) if p.day == day]
    waiting = []
    for p in wanted:
        entry = ctx.store.get_run_log(upstream, p.key, sched.name)
        if entry is None or entry.status not in SUCCEEDED_RUN_STATUSES:
            waiting.append(p.key)
    if waiting:
        shown = ", ".join(waiting[:5]) + (f" and {len(waiting) - 5} more" if len(waiting) > 5 else "")
        return _fail(f"upstream {upstream} has {len(waiting)} of {len(wanted)} periods of {day} not completed "
                     f"({schedule}): {shown}", {"waiting": waiting, "periods": len(wanted)})
    return _pass(f"upstream {upstream} completed all {len(wanted)} periods of {day} ({schedule})",
                 {"periods": len(wanted)})


BUILTINS: dict[str, Handler] = {
    "sensor-threshold": sensor_threshold,
    "sensor-freshness": sensor_freshness,
    "window-completeness": window_completeness,
    "data-quality": data_quality,
    "upstream-job-log": upstream_job_log,
    "upstream": upstream_job_log,
    "sql": sql,
    "object-exists": object_exists,
}
# Builtins that decide with ``rules`` themselves; on the others the rules are applied to a PASS.
DECIDES_WITH_RULES = frozenset({"sql", "object-exists"})


class BuiltinEvaluator:
    def __init__(self, name: str, ctx: BuiltinContext) -> None:
        self.name = name
        self.ctx = ctx

    def evaluate(self, request: EvaluationRequest, timeout: float) -> EvaluatorOutput:
        handler = BUILTINS.get(self.name)
        if handler is None:
            return _config_error(f"unknown builtin evaluator: {self.name} (known: {', '.join(sorted(BUILTINS))})")
        output = handler(self.ctx, request, timeout)
        if self.name in DECIDES_WITH_RULES:
            return output
        return with_rules(output, request.config.get("rules"), self.ctx.clock.now())


def with_rules(output: EvaluatorOutput, raw_rules: Any, now: datetime) -> EvaluatorOutput:
    """``output``, turned into a FAIL when it is a PASS and one of ``raw_rules`` does not hold over its value."""
    if raw_rules is None or output.status is not TraitStatus.PASS:
        return output
    try:
        checks = rules.parse(raw_rules)
    except rules.RuleError as exc:
        return _config_error(f"config invalid: {exc}")
    verdict = rules.judge(checks, output.value, now)
    if verdict.holds:
        return output
    return EvaluatorOutput(TraitStatus.FAIL, output.value, verdict.reason())
