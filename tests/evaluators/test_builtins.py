"""In-process builtin evaluators on the real Redis store.

Sensor readings and run logs are written with the store's own API; the clock is frozen. Where our
builtins deliberately differ from the reference (module docstring of ``interlock.evaluators.builtin``)
the tests pin ours: configuration problems are ERROR/PERMANENT (not FAIL), booleans are never numbers,
a sensor timestamp in the future is an ERROR, a missing ``nullRate`` fails a ``maxNullRate`` check,
and an upstream in COMPLETED_MONITORING counts as completed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from interlock.clock import FrozenClock
from interlock.evaluators.base import EvaluationRequest, EvaluatorOutput
from interlock.evaluators.builtin import BUILTINS, BuiltinContext, BuiltinEvaluator
from interlock.model import FailureCategory, RunLogEntry, RunStatus, TraitStatus
from interlock.store.base import SensorReading
from interlock.store.redis import RedisStore

pytestmark = pytest.mark.integration

NOW = datetime(2026, 2, 23, 14, 30, tzinfo=UTC)
PIPELINE = "gold-pipeline"


@pytest.fixture
def ctx(store: RedisStore) -> BuiltinContext:
    return BuiltinContext(store, FrozenClock(NOW))


def evaluate(ctx: BuiltinContext, name: str, config: dict[str, Any], pipeline: str = PIPELINE) -> EvaluatorOutput:
    return BuiltinEvaluator(name, ctx).evaluate(EvaluationRequest(pipeline, "some-trait", config), 5.0)


def sensor(store: RedisStore, sensor_type: str, value: dict[str, Any], *, updated_at: datetime = NOW,
           pipeline: str = PIPELINE) -> None:
    store.put_sensor(SensorReading(pipeline, sensor_type, value, updated_at))


def run_log(store: RedisStore, pipeline: str, date: str, schedule: str, status: RunStatus, *,
            completed_at: datetime | None = None) -> None:
    store.put_run_log(RunLogEntry(pipeline_id=pipeline, date=date, schedule_id=schedule, status=status,
                                  attempt_number=1, run_id=f"run-{pipeline}-{date}-{schedule}",
                                  started_at=NOW - timedelta(hours=1), completed_at=completed_at, updated_at=NOW))


def assert_config_error(out: EvaluatorOutput, reason: str) -> None:
    assert out == EvaluatorOutput(TraitStatus.ERROR, None, reason, FailureCategory.PERMANENT)


def assert_no_sensor(out: EvaluatorOutput, sensor_type: str, pipeline: str = PIPELINE) -> None:
    assert out == EvaluatorOutput(TraitStatus.FAIL, None, f"no sensor data for {pipeline}/{sensor_type}", None)


# -- dispatch -------------------------------------------------------------------------------------


def test_unknown_builtin_name_is_a_permanent_error_naming_the_known_ones(ctx: BuiltinContext) -> None:
    out = evaluate(ctx, "nonexistent", {"sensorType": "x"})
    assert (out.status, out.failure_category) == (TraitStatus.ERROR, FailureCategory.PERMANENT)
    assert out.reason is not None and out.reason.startswith("unknown builtin evaluator: nonexistent")
    assert "sensor-freshness" in out.reason


def test_registry_holds_the_builtins_and_the_upstream_alias() -> None:
    assert set(BUILTINS) == {"sensor-threshold", "sensor-freshness", "window-completeness", "data-quality",
                             "upstream-job-log", "upstream", "sql", "object-exists"}
    assert BUILTINS["upstream"] is BUILTINS["upstream-job-log"]


@pytest.mark.parametrize("name", ["sensor-threshold", "window-completeness", "data-quality"])
def test_sensor_builtins_need_sensor_type(ctx: BuiltinContext, name: str) -> None:
    assert_config_error(evaluate(ctx, name, {}), "config missing: sensorType")


@pytest.mark.parametrize("name", ["sensor-threshold", "window-completeness", "data-quality"])
@pytest.mark.parametrize("bad", ["", 42, None, ["rows"]], ids=["empty", "number", "null", "list"])
def test_sensor_type_must_be_a_non_empty_string(ctx: BuiltinContext, name: str, bad: object) -> None:
    assert_config_error(evaluate(ctx, name, {"sensorType": bad}),
                        "config invalid: sensorType must be a non-empty string")


@pytest.mark.parametrize("name", ["sensor-threshold", "window-completeness", "data-quality"])
def test_absent_sensor_fails_without_a_category(ctx: BuiltinContext, name: str) -> None:
    config = {"sensorType": "rows", "expectedCount": 1}
    assert_no_sensor(evaluate(ctx, name, config), "rows")


def test_sensor_of_another_pipeline_is_not_visible(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "temperature", {"temperature": 20}, pipeline="other-pipeline")
    assert_no_sensor(evaluate(ctx, "sensor-threshold", {"sensorType": "temperature"}), "temperature")
    assert evaluate(ctx, "sensor-threshold", {"sensorType": "temperature"},
                    pipeline="other-pipeline").status is TraitStatus.PASS


# -- sensor-threshold -----------------------------------------------------------------------------


def test_threshold_value_within_bounds_passes(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "temperature", {"temperature": 25.0})
    out = evaluate(ctx, "sensor-threshold", {"sensorType": "temperature", "min": 10, "max": 30})
    assert out == EvaluatorOutput(TraitStatus.PASS, {"value": 25.0}, "sensor temperature value 25.00 within thresholds")


def test_threshold_value_below_min_fails(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "temperature", {"temperature": 5.0})
    out = evaluate(ctx, "sensor-threshold", {"sensorType": "temperature", "min": 10, "max": 30})
    assert out == EvaluatorOutput(TraitStatus.FAIL, {"value": 5.0, "min": 10.0},
                                  "sensor temperature value 5.00 below min 10.00")


def test_threshold_value_above_max_fails(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "temperature", {"temperature": 35})
    out = evaluate(ctx, "sensor-threshold", {"sensorType": "temperature", "min": 10, "max": 30.5})
    assert out == EvaluatorOutput(TraitStatus.FAIL, {"value": 35.0, "max": 30.5},
                                  "sensor temperature value 35.00 above max 30.50")


@pytest.mark.parametrize("reading", [10, 30])
def test_threshold_bounds_are_inclusive(store: RedisStore, ctx: BuiltinContext, reading: int) -> None:
    sensor(store, "temperature", {"temperature": reading})
    out = evaluate(ctx, "sensor-threshold", {"sensorType": "temperature", "min": 10, "max": 30})
    assert out.status is TraitStatus.PASS


def test_threshold_falls_back_to_the_value_key(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "rowCount", {"value": 1200})
    out = evaluate(ctx, "sensor-threshold", {"sensorType": "rowCount", "min": 1000})
    assert (out.status, out.value) == (TraitStatus.PASS, {"value": 1200.0})


def test_threshold_without_bounds_passes_any_number(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "temperature", {"temperature": -273.15})
    assert evaluate(ctx, "sensor-threshold", {"sensorType": "temperature"}).status is TraitStatus.PASS


@pytest.mark.parametrize("reading", [{"temperature": "25"}, {"temperature": None}, {"other": 1}, {}],
                         ids=["string", "null", "other-key", "empty"])
def test_threshold_without_a_numeric_value_fails(store: RedisStore, ctx: BuiltinContext,
                                                 reading: dict[str, Any]) -> None:
    sensor(store, "temperature", reading)
    out = evaluate(ctx, "sensor-threshold", {"sensorType": "temperature", "min": 0})
    assert out == EvaluatorOutput(TraitStatus.FAIL, None, "sensor temperature has no numeric value")


def test_threshold_boolean_reading_is_not_a_number(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "healthy", {"healthy": True, "value": False})
    out = evaluate(ctx, "sensor-threshold", {"sensorType": "healthy", "min": 0, "max": 1})
    assert out == EvaluatorOutput(TraitStatus.FAIL, None, "sensor healthy has no numeric value")


def test_threshold_boolean_reading_falls_through_to_a_numeric_value(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "lag", {"lag": True, "value": 7})
    out = evaluate(ctx, "sensor-threshold", {"sensorType": "lag", "max": 10})
    assert (out.status, out.value) == (TraitStatus.PASS, {"value": 7.0})


def test_threshold_boolean_bounds_are_ignored(store: RedisStore, ctx: BuiltinContext) -> None:
    # As numbers, True would be min 1 and False max 0; neither may bound the value.
    sensor(store, "ratio", {"ratio": 0.5})
    out = evaluate(ctx, "sensor-threshold", {"sensorType": "ratio", "min": True, "max": False})
    assert out == EvaluatorOutput(TraitStatus.PASS, {"value": 0.5}, "sensor ratio value 0.50 within thresholds")


def test_threshold_non_numeric_bounds_are_ignored(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "ratio", {"ratio": 50})
    out = evaluate(ctx, "sensor-threshold", {"sensorType": "ratio", "min": "100", "max": "10"})
    assert out.status is TraitStatus.PASS


# -- sensor-freshness -----------------------------------------------------------------------------


def test_freshness_recent_reading_passes(store: RedisStore, ctx: BuiltinContext) -> None:
    updated = NOW - timedelta(minutes=1)
    sensor(store, "lastUpdate", {"rows": 10}, updated_at=updated)
    out = evaluate(ctx, "sensor-freshness", {"sensorType": "lastUpdate", "maxAge": "10m"})
    assert out == EvaluatorOutput(
        TraitStatus.PASS, {"updatedAt": updated.isoformat(), "ageSeconds": 60, "maxAgeSeconds": 600},
        "sensor lastUpdate is fresh: age 1m0s within maxAge 10m")


def test_freshness_old_reading_is_stale(store: RedisStore, ctx: BuiltinContext) -> None:
    updated = NOW - timedelta(minutes=20, seconds=30, milliseconds=700)
    sensor(store, "lastUpdate", {}, updated_at=updated)
    out = evaluate(ctx, "sensor-freshness", {"sensorType": "lastUpdate", "maxAge": "10m"})
    assert out == EvaluatorOutput(
        TraitStatus.FAIL, {"updatedAt": updated.isoformat(), "ageSeconds": 1230, "maxAgeSeconds": 600},
        "sensor lastUpdate is stale: age 20m30s exceeds maxAge 10m")


def test_freshness_age_equal_to_max_age_is_fresh(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "lastUpdate", {}, updated_at=NOW - timedelta(minutes=10))
    out = evaluate(ctx, "sensor-freshness", {"sensorType": "lastUpdate", "maxAge": "10m"})
    assert out.status is TraitStatus.PASS


def test_freshness_compares_instants_across_time_zones(store: RedisStore, ctx: BuiltinContext) -> None:
    tokyo = timezone(timedelta(hours=9))
    sensor(store, "lastUpdate", {}, updated_at=(NOW - timedelta(minutes=5)).astimezone(tokyo))
    out = evaluate(ctx, "sensor-freshness", {"sensorType": "lastUpdate", "maxAge": "6m"})
    assert (out.status, out.value and out.value["ageSeconds"]) == (TraitStatus.PASS, 300)


def test_freshness_timestamp_far_in_the_future_is_an_error(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "lastUpdate", {}, updated_at=NOW + timedelta(hours=2))
    out = evaluate(ctx, "sensor-freshness", {"sensorType": "lastUpdate", "maxAge": "10m"})
    assert (out.status, out.failure_category) == (TraitStatus.ERROR, FailureCategory.PERMANENT)
    assert out.reason == "sensor lastUpdate updatedAt is 7200s in the future"


def test_freshness_tolerates_a_minute_of_clock_skew(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "lastUpdate", {}, updated_at=NOW + timedelta(seconds=60))
    at_limit = evaluate(ctx, "sensor-freshness", {"sensorType": "lastUpdate", "maxAge": "10m"})
    sensor(store, "lastUpdate", {}, updated_at=NOW + timedelta(seconds=61))
    past_limit = evaluate(ctx, "sensor-freshness", {"sensorType": "lastUpdate", "maxAge": "10m"})
    assert at_limit.status is TraitStatus.PASS
    assert at_limit.reason == "sensor lastUpdate is fresh: age 0s within maxAge 10m"
    assert past_limit.status is TraitStatus.ERROR


def test_freshness_absent_sensor_fails(ctx: BuiltinContext) -> None:
    assert_no_sensor(evaluate(ctx, "sensor-freshness", {"sensorType": "lastUpdate", "maxAge": "10m"}), "lastUpdate")


@pytest.mark.parametrize("max_age", ["invalid", "1d", "10"])
def test_freshness_unparsable_max_age_is_a_permanent_error(store: RedisStore, ctx: BuiltinContext,
                                                           max_age: str) -> None:
    sensor(store, "lastUpdate", {})
    out = evaluate(ctx, "sensor-freshness", {"sensorType": "lastUpdate", "maxAge": max_age})
    assert (out.status, out.failure_category) == (TraitStatus.ERROR, FailureCategory.PERMANENT)
    assert out.reason is not None and out.reason.startswith(f"invalid maxAge duration {max_age!r}: ")


def test_freshness_needs_max_age(ctx: BuiltinContext) -> None:
    assert_config_error(evaluate(ctx, "sensor-freshness", {"sensorType": "lastUpdate"}), "config missing: maxAge")


def test_freshness_max_age_must_be_a_string(ctx: BuiltinContext) -> None:
    assert_config_error(evaluate(ctx, "sensor-freshness", {"sensorType": "lastUpdate", "maxAge": 600}),
                        "config invalid: maxAge must be a non-empty string")


def test_freshness_needs_sensor_type(ctx: BuiltinContext) -> None:
    assert_config_error(evaluate(ctx, "sensor-freshness", {"maxAge": "10m"}), "config missing: sensorType")


# -- window-completeness --------------------------------------------------------------------------


def test_windows_all_expected_present_passes(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "hourly", {"windows": ["w1", "w2", "w3"]})
    out = evaluate(ctx, "window-completeness", {"sensorType": "hourly", "expectedWindows": ["w1", "w2", "w3"]})
    assert out == EvaluatorOutput(TraitStatus.PASS, {"windowCount": 3}, "all 3 expected windows present")


def test_windows_missing_ones_fail_listed_in_expected_order(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "hourly", {"windows": ["w1"]})
    out = evaluate(ctx, "window-completeness", {"sensorType": "hourly", "expectedWindows": ["w3", "w1", "w2"]})
    assert out == EvaluatorOutput(TraitStatus.FAIL, {"missing": ["w3", "w2"], "actual": 1, "expected": 3},
                                  "missing 2 of 3 expected windows")


def test_windows_non_string_items_are_skipped_not_fatal(store: RedisStore, ctx: BuiltinContext) -> None:
    # The reference emptied the whole list when one item was not a string.
    sensor(store, "hourly", {"windows": ["w1", 2, None, "w2"]})
    out = evaluate(ctx, "window-completeness", {"sensorType": "hourly", "expectedWindows": ["w1", "w2"]})
    assert out == EvaluatorOutput(TraitStatus.PASS, {"windowCount": 2}, "all 2 expected windows present")


def test_windows_not_a_list_count_as_none(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "hourly", {"windows": "w1,w2"})
    out = evaluate(ctx, "window-completeness", {"sensorType": "hourly", "expectedWindows": ["w1"]})
    assert (out.status, out.value) == (TraitStatus.FAIL, {"missing": ["w1"], "actual": 0, "expected": 1})


def test_expected_windows_take_precedence_over_expected_count(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "hourly", {"windows": ["w1"], "count": 10})
    out = evaluate(ctx, "window-completeness",
                   {"sensorType": "hourly", "expectedWindows": ["w1", "w2"], "expectedCount": 1})
    assert (out.status, out.reason) == (TraitStatus.FAIL, "missing 1 of 2 expected windows")


@pytest.mark.parametrize("bad", ["w1", ["w1", 2], {"w1": True}], ids=["string", "mixed-list", "object"])
def test_expected_windows_must_be_a_string_array(store: RedisStore, ctx: BuiltinContext, bad: object) -> None:
    sensor(store, "hourly", {"windows": ["w1"]})
    assert_config_error(evaluate(ctx, "window-completeness", {"sensorType": "hourly", "expectedWindows": bad}),
                        "config invalid: expectedWindows must be a string array")


def test_expected_count_met_passes(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "hourly", {"windows": ["w1", "w2", "w3"]})
    out = evaluate(ctx, "window-completeness", {"sensorType": "hourly", "expectedCount": 3.0})
    assert out == EvaluatorOutput(TraitStatus.PASS, {"windowCount": 3.0}, "window count 3 meets expected 3")


def test_expected_count_short_fails(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "hourly", {"windows": ["w1"]})
    out = evaluate(ctx, "window-completeness", {"sensorType": "hourly", "expectedCount": 3})
    assert out == EvaluatorOutput(TraitStatus.FAIL, {"actual": 1.0, "expected": 3.0}, "window count 1 below expected 3")


def test_expected_count_uses_the_larger_of_windows_and_count(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "hourly", {"windows": ["w1"], "count": 24})
    out = evaluate(ctx, "window-completeness", {"sensorType": "hourly", "expectedCount": 24})
    assert (out.status, out.reason) == (TraitStatus.PASS, "window count 24 meets expected 24")


def test_boolean_count_in_the_sensor_is_not_a_number(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "hourly", {"windows": [], "count": True})
    out = evaluate(ctx, "window-completeness", {"sensorType": "hourly", "expectedCount": 1})
    assert (out.status, out.reason) == (TraitStatus.FAIL, "window count 0 below expected 1")


@pytest.mark.parametrize("bad", ["3", True, None], ids=["string", "bool", "null"])
def test_expected_count_must_be_numeric(store: RedisStore, ctx: BuiltinContext, bad: object) -> None:
    sensor(store, "hourly", {"windows": ["w1"]})
    assert_config_error(evaluate(ctx, "window-completeness", {"sensorType": "hourly", "expectedCount": bad}),
                        "config invalid: expectedCount must be numeric")


def test_window_completeness_needs_a_strategy(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "hourly", {"windows": ["w1"]})
    assert_config_error(evaluate(ctx, "window-completeness", {"sensorType": "hourly"}),
                        "config missing: expectedWindows or expectedCount required")


# -- data-quality ---------------------------------------------------------------------------------


def test_quality_null_rate_under_max_passes_with_the_whole_reading(store: RedisStore, ctx: BuiltinContext) -> None:
    reading = {"nullRate": 0.01, "rows": 5000, "schemaDrift": False}
    sensor(store, "quality", reading)
    out = evaluate(ctx, "data-quality", {"sensorType": "quality", "maxNullRate": 0.05})
    assert out == EvaluatorOutput(TraitStatus.PASS, reading, "data quality checks passed for sensor quality")


def test_quality_null_rate_over_max_fails(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "quality", {"nullRate": 0.10})
    out = evaluate(ctx, "data-quality", {"sensorType": "quality", "maxNullRate": 0.05})
    assert out == EvaluatorOutput(TraitStatus.FAIL, {"nullRate": 0.10, "maxNullRate": 0.05},
                                  "null rate 0.1000 exceeds max 0.0500")


def test_quality_null_rate_equal_to_max_passes(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "quality", {"nullRate": 0.05})
    assert evaluate(ctx, "data-quality", {"sensorType": "quality", "maxNullRate": 0.05}).status is TraitStatus.PASS


@pytest.mark.parametrize("reading", [{}, {"nullRate": "0.01"}, {"nullRate": False}, {"nullRate": None}],
                         ids=["missing", "string", "bool", "null"])
def test_quality_without_a_numeric_null_rate_fails_when_a_max_is_set(
    store: RedisStore, ctx: BuiltinContext, reading: dict[str, Any]
) -> None:
    sensor(store, "quality", reading)
    out = evaluate(ctx, "data-quality", {"sensorType": "quality", "maxNullRate": 0.05})
    assert out == EvaluatorOutput(TraitStatus.FAIL, None,
                                  "sensor quality has no numeric nullRate to check against maxNullRate")


def test_quality_without_max_null_rate_ignores_the_null_rate(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "quality", {"nullRate": 0.9})
    assert evaluate(ctx, "data-quality", {"sensorType": "quality"}).status is TraitStatus.PASS


@pytest.mark.parametrize("bad", ["0.05", True, None], ids=["string", "bool", "null"])
def test_quality_max_null_rate_must_be_numeric(store: RedisStore, ctx: BuiltinContext, bad: object) -> None:
    sensor(store, "quality", {"nullRate": 0.0})
    assert_config_error(evaluate(ctx, "data-quality", {"sensorType": "quality", "maxNullRate": bad}),
                        "config invalid: maxNullRate must be numeric")


def test_quality_schema_drift_fails_with_its_details(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "quality", {"schemaDrift": True, "schemaDriftDetails": "column 'x' removed"})
    out = evaluate(ctx, "data-quality", {"sensorType": "quality", "allowSchemaDrift": False})
    assert out == EvaluatorOutput(TraitStatus.FAIL, {"schemaDrift": True, "schemaDriftDetails": "column 'x' removed"},
                                  "schema drift detected: column 'x' removed")


def test_quality_schema_drift_without_details(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "quality", {"schemaDrift": True})
    out = evaluate(ctx, "data-quality", {"sensorType": "quality"})
    assert (out.status, out.reason) == (TraitStatus.FAIL, "schema drift detected: ")


def test_quality_allowed_schema_drift_passes(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "quality", {"schemaDrift": True, "schemaDriftDetails": "column 'x' removed"})
    out = evaluate(ctx, "data-quality", {"sensorType": "quality", "allowSchemaDrift": True})
    assert out.status is TraitStatus.PASS


def test_quality_allow_schema_drift_must_be_literally_true(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "quality", {"schemaDrift": True})
    out = evaluate(ctx, "data-quality", {"sensorType": "quality", "allowSchemaDrift": "true"})
    assert out.status is TraitStatus.FAIL


def test_quality_schema_drift_must_be_literally_true(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "quality", {"schemaDrift": "true"})
    assert evaluate(ctx, "data-quality", {"sensorType": "quality"}).status is TraitStatus.PASS


def test_quality_null_rate_is_checked_before_schema_drift(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "quality", {"nullRate": 0.5, "schemaDrift": True})
    out = evaluate(ctx, "data-quality", {"sensorType": "quality", "maxNullRate": 0.1})
    assert out.reason == "null rate 0.5000 exceeds max 0.1000"


# -- upstream-job-log -----------------------------------------------------------------------------


def test_upstream_completed_for_the_schedule_passes(store: RedisStore, ctx: BuiltinContext) -> None:
    done = NOW - timedelta(minutes=10)
    run_log(store, "silver-pipeline", "2026-02-23", "h14", RunStatus.COMPLETED, completed_at=done)
    out = evaluate(ctx, "upstream-job-log",
                   {"upstreamPipeline": "silver-pipeline", "date": "2026-02-23", "upstreamSchedule": "h14"})
    assert out == EvaluatorOutput(
        TraitStatus.PASS, {"upstreamRunId": "run-silver-pipeline-2026-02-23-h14", "completedAt": done.isoformat()},
        "upstream silver-pipeline completed for 2026-02-23/h14")


def test_upstream_completed_without_completion_time_reports_null(store: RedisStore, ctx: BuiltinContext) -> None:
    run_log(store, "silver-pipeline", "2026-02-23", "daily", RunStatus.COMPLETED)
    out = evaluate(ctx, "upstream-job-log", {"upstreamPipeline": "silver-pipeline", "date": "2026-02-23"})
    assert (out.status, out.value) == (TraitStatus.PASS, {"upstreamRunId": "run-silver-pipeline-2026-02-23-daily",
                                                          "completedAt": None})


def test_upstream_in_completed_monitoring_counts_as_completed(store: RedisStore, ctx: BuiltinContext) -> None:
    run_log(store, "silver-pipeline", "2026-02-23", "daily", RunStatus.COMPLETED_MONITORING, completed_at=NOW)
    out = evaluate(ctx, "upstream-job-log", {"upstreamPipeline": "silver-pipeline", "date": "2026-02-23"})
    assert (out.status, out.reason) == (TraitStatus.PASS, "upstream silver-pipeline completed for 2026-02-23/daily")


@pytest.mark.parametrize("status", [RunStatus.PENDING, RunStatus.TRIGGERING, RunStatus.RUNNING, RunStatus.FAILED,
                                    RunStatus.CANCELLED])
def test_upstream_not_completed_fails_naming_its_status(store: RedisStore, ctx: BuiltinContext,
                                                         status: RunStatus) -> None:
    run_log(store, "silver-pipeline", "2026-02-23", "daily", status)
    out = evaluate(ctx, "upstream-job-log", {"upstreamPipeline": "silver-pipeline", "date": "2026-02-23"})
    assert out == EvaluatorOutput(TraitStatus.FAIL, None,
                                  f"upstream silver-pipeline status is {status.value} for 2026-02-23/daily")


def test_upstream_without_a_run_log_fails(ctx: BuiltinContext) -> None:
    out = evaluate(ctx, "upstream-job-log", {"upstreamPipeline": "silver-pipeline", "date": "2026-02-23"})
    assert out == EvaluatorOutput(TraitStatus.FAIL, None,
                                  "upstream silver-pipeline has no run log for 2026-02-23/daily")


def test_upstream_run_log_of_another_date_does_not_count(store: RedisStore, ctx: BuiltinContext) -> None:
    run_log(store, "silver-pipeline", "2026-02-22", "daily", RunStatus.COMPLETED)
    out = evaluate(ctx, "upstream-job-log", {"upstreamPipeline": "silver-pipeline", "date": "2026-02-23"})
    assert out.reason == "upstream silver-pipeline has no run log for 2026-02-23/daily"


def test_upstream_schedule_falls_back_to_the_injected_schedule_id(store: RedisStore, ctx: BuiltinContext) -> None:
    run_log(store, "silver-pipeline", "2026-02-23", "h14", RunStatus.COMPLETED)
    out = evaluate(ctx, "upstream-job-log",
                   {"upstreamPipeline": "silver-pipeline", "date": "2026-02-23", "scheduleId": "h14"})
    assert (out.status, out.reason) == (TraitStatus.PASS, "upstream silver-pipeline completed for 2026-02-23/h14")


def test_upstream_schedule_wins_over_the_injected_schedule_id(store: RedisStore, ctx: BuiltinContext) -> None:
    run_log(store, "silver-pipeline", "2026-02-23", "h14", RunStatus.COMPLETED)
    run_log(store, "silver-pipeline", "2026-02-23", "daily", RunStatus.RUNNING)
    out = evaluate(ctx, "upstream-job-log", {"upstreamPipeline": "silver-pipeline", "date": "2026-02-23",
                                             "upstreamSchedule": "h14", "scheduleId": "daily"})
    assert out.status is TraitStatus.PASS


def test_upstream_alias_behaves_like_upstream_job_log(store: RedisStore, ctx: BuiltinContext) -> None:
    run_log(store, "silver-pipeline", "2026-02-23", "daily", RunStatus.COMPLETED)
    config = {"upstreamPipeline": "silver-pipeline", "date": "2026-02-23"}
    assert evaluate(ctx, "upstream", config) == evaluate(ctx, "upstream-job-log", config)


@pytest.mark.parametrize(("config", "reason"), [
    ({"date": "2026-02-23"}, "config missing: upstreamPipeline"),
    ({"upstreamPipeline": "", "date": "2026-02-23"}, "config invalid: upstreamPipeline must be a non-empty string"),
    ({"upstreamPipeline": "silver-pipeline"}, "config missing: date"),
    ({"upstreamPipeline": "silver-pipeline", "date": 20260223}, "config invalid: date must be a non-empty string"),
], ids=["no-upstream", "empty-upstream", "no-date", "numeric-date"])
def test_upstream_config_problems_are_permanent_errors(ctx: BuiltinContext, config: dict[str, Any],
                                                       reason: str) -> None:
    assert_config_error(evaluate(ctx, "upstream-job-log", config), reason)


# -- NaN readings (a rate computed over zero rows) --------------------------------------------------


def test_threshold_nan_reading_is_not_within_bounds(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "temperature", {"temperature": float("nan")})
    out = evaluate(ctx, "sensor-threshold", {"sensorType": "temperature", "min": 10, "max": 30})
    assert out.status is TraitStatus.FAIL


def test_quality_nan_null_rate_fails_when_a_max_is_set(store: RedisStore, ctx: BuiltinContext) -> None:
    sensor(store, "quality", {"nullRate": float("nan"), "rows": 0})
    out = evaluate(ctx, "data-quality", {"sensorType": "quality", "maxNullRate": 0.05})
    assert out.status is TraitStatus.FAIL


# -- rules on the sensor builtins -----------------------------------------------------------------


def test_rules_turn_a_sensor_pass_into_a_fail_naming_the_rule(ctx: BuiltinContext, store: RedisStore) -> None:
    sensor(store, "quality", {"nullRate": 0.01, "rows": 12})
    config = {"sensorType": "quality", "maxNullRate": 0.05}
    assert evaluate(ctx, "data-quality", config).status is TraitStatus.PASS
    out = evaluate(ctx, "data-quality", {**config, "rules": [{"field": "rows", "check": "gte", "value": 100}]})
    assert (out.status, out.reason) == (TraitStatus.FAIL, "rule 1 (rows gte 100) did not hold: rows is 12")
    assert out.value == {"nullRate": 0.01, "rows": 12}
