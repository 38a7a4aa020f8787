"""Durations, times of day, deadlines and time zones are parsed once, at load, and written back as given.

The models hold typed values (timedelta, time, ZoneInfo); the JSON (API, store) is the text the
user wrote, character for character; the JSON schema still says string; nothing downstream parses
the text again.
"""

from __future__ import annotations

import copy
import json
import pickle
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interlock import schedule, sla, timeutil
from interlock.config.project import ProjectConfig, build_settings
from interlock.model import PipelineConfig, ScheduleConfig
from interlock.store.redis import RedisStore
from interlock.timetypes import Duration, TimeOfDay
from tests.steps.conftest import Harness

# Every typed field, each spelled in a way a normaliser would change.
SPELLED: dict[str, Any] = {
    "name": "orders",
    "archetype": "a",
    "trigger": {"type": "http", "pollInterval": "1h30m", "http": {"url": "http://127.0.0.1:9/start"}},
    "sla": {"evaluationDeadline": "8:00", "completionDeadline": "+90m", "timezone": "Europe/London",
            "validationTimeout": "0.5h", "atRiskLeadTime": "1m30s"},
    "watch": {"interval": "60s", "monitoring": {"enabled": True, "duration": "2h0m"}},
    "schedules": [{"name": "morning", "after": "6:00", "deadline": "09:30", "timezone": "America/New_York"},
                  {"name": "late"}],
    "cascade": {"delayBetween": "0"},
}


def spelled() -> PipelineConfig:
    return PipelineConfig.model_validate(SPELLED)


def test_validated_config_holds_typed_values() -> None:
    p = spelled()
    assert p.trigger is not None and p.sla is not None and p.watch is not None and p.schedules and p.cascade
    assert isinstance(p.trigger.poll_interval, timedelta) and p.trigger.poll_interval == timedelta(minutes=90)
    assert p.sla.evaluation_deadline == time(8, 0) and isinstance(p.sla.evaluation_deadline, time)
    assert p.sla.completion_deadline == timedelta(minutes=90) and isinstance(p.sla.completion_deadline, timedelta)
    assert p.sla.timezone is ZoneInfo("Europe/London")
    assert p.sla.validation_timeout == timedelta(minutes=30) and p.sla.at_risk_lead_time == timedelta(seconds=90)
    assert p.watch.interval == timedelta(minutes=1)
    assert p.watch.monitoring is not None and p.watch.monitoring.duration == timedelta(hours=2)
    assert p.schedules[0].after == time(6, 0) and p.schedules[0].deadline == time(9, 30)
    assert p.schedules[0].timezone is ZoneInfo("America/New_York")
    assert p.cascade.delay_between == timedelta(0)


def test_json_gives_back_every_value_as_it_was_written() -> None:
    p = spelled()
    assert p.to_json() == SPELLED
    again = PipelineConfig.model_validate_json(json.dumps(p.to_json()))
    assert again == p and again.to_json() == SPELLED
    assert PipelineConfig.model_validate(p.model_dump()) == p  # a Python dump is the text as well


@settings(max_examples=200, deadline=None)
@given(groups=st.lists(st.tuples(st.integers(1, 10**4), st.sampled_from(["ns", "us", "µs", "ms", "s", "m", "h"])),
                       min_size=1, max_size=4),
       sign=st.sampled_from(["", "+"]), clock=st.tuples(st.integers(0, 23), st.integers(0, 59), st.booleans()))
def test_any_valid_spelling_round_trips_through_json(groups: list[tuple[int, str]], sign: str,
                                                      clock: tuple[int, int, bool]) -> None:
    duration = sign + "".join(f"{n}{unit}" for n, unit in groups)
    hour, minute, padded = clock
    at = f"{hour:02d}:{minute:02d}" if padded else f"{hour}:{minute:02d}"
    doc = {"name": "orders", "archetype": "a", "cascade": {"delayBetween": duration},
           "sla": {"evaluationDeadline": duration, "completionDeadline": at}, "schedules": [{"name": "s", "after": at}]}
    p = PipelineConfig.model_validate(doc)
    assert p.to_json() == doc
    assert PipelineConfig.model_validate_json(json.dumps(p.to_json())) == p
    assert p.cascade is not None and p.cascade.delay_between == timeutil.parse_duration(duration)


def test_typed_values_survive_copies_pickles_and_code_that_builds_models_with_them() -> None:
    p = spelled()
    for clone in (copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
        assert clone == p and clone.to_json() == SPELLED
    built = ScheduleConfig(name="s", after=TimeOfDay("7:05"), deadline=TimeOfDay("10:00"),
                           timezone=ZoneInfo("Asia/Tokyo"))
    assert built.to_json() == {"name": "s", "after": "7:05", "deadline": "10:00", "timezone": "Asia/Tokyo"}
    assert Duration("90m") == Duration("1h30m") and Duration("90m").text == "90m"


def test_non_string_values_are_still_refused_as_not_strings() -> None:
    from pydantic import ValidationError

    for bad in ({"watch": {"interval": 30}}, {"sla": {"timezone": 1}}, {"schedules": [{"name": "s", "after": 905}]},
                {"sla": {"evaluationDeadline": ["09:00"]}}):
        with pytest.raises(ValidationError) as caught:
            PipelineConfig.model_validate({"name": "orders", "archetype": "a", **bad})
        assert [e["msg"] for e in caught.value.errors()] == ["Input should be a valid string"]


def test_an_out_of_range_duration_is_a_validation_error_with_its_field() -> None:
    from pydantic import ValidationError

    for doc in ({"watch": {"interval": "99999999999999999999h"}}, {"sla": {"completionDeadline": "+24000000000h"}}):
        with pytest.raises(ValidationError) as caught:
            PipelineConfig.model_validate({"name": "orders", "archetype": "a", **doc})
        assert len(caught.value.errors()) == 1 and "invalid d" in caught.value.errors()[0]["msg"]


def test_the_json_schema_still_says_string() -> None:
    for mode in ("validation", "serialization"):
        defs = PipelineConfig.model_json_schema(mode=mode)["$defs"]  # type: ignore[arg-type]
        for model, field in (("SLAConfig", "evaluationDeadline"), ("SLAConfig", "timezone"),
                             ("SLAConfig", "validationTimeout"), ("ScheduleConfig", "after"),
                             ("ScheduleConfig", "deadline"), ("TriggerConfig", "pollInterval"),
                             ("PipelineWatchConfig", "interval"), ("CascadeConfig", "delayBetween")):
            assert defs[model]["properties"][field]["anyOf"] == [{"type": "string"}, {"type": "null"}], (mode, field)
    project = ProjectConfig.model_json_schema(mode="serialization")["$defs"]
    assert project["WatchdogConfig"]["properties"]["stuckRunThreshold"]["type"] == "string"


def test_nothing_downstream_parses_the_text_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    p = spelled()
    config = ProjectConfig.model_validate({"provider": "redis", "archetypeDirs": ["a"], "pipelineDirs": ["p"],
                                           "watchdog": {"stuckRunThreshold": "45m"}})

    def parsed_again(*_args: object) -> None:
        raise AssertionError("configuration text parsed again after validation")

    for name in ("parse_duration", "parse_time_of_day", "parse_deadline", "zone"):
        monkeypatch.setattr(timeutil, name, parsed_again)
    morning = p.schedule_list()[0]
    now = datetime(2026, 7, 1, 12, tzinfo=UTC)
    assert schedule.period_of(p, morning, now) == "2026-07-01"
    assert schedule.active_from(p, morning, now) == datetime(2026, 7, 1, 10, tzinfo=UTC)  # 06:00 EDT
    assert schedule.next_period_start(p, morning, now) == datetime(2026, 7, 2, 10, tzinfo=UTC)
    assert not schedule.is_excluded(p, now, {})
    window = sla.window(p, p.schedule_list()[1], "2026-07-01")  # the SLA block's deadlines, London time
    assert window.opens == datetime(2026, 6, 30, 23, tzinfo=UTC)
    assert window.evaluation_deadline == datetime(2026, 7, 1, 7, tzinfo=UTC)
    assert window.completion_deadline == window.opens + timedelta(minutes=90)
    assert window.validation_deadline == window.opens + timedelta(minutes=30)
    assert window.at_risk_lead == timedelta(seconds=90) and window.labels == {"evaluation": "8:00",
                                                                             "completion": "+90m"}
    assert sla.has_sla(p, morning)
    assert build_settings(config, tmp_path / "interlock.yaml", {}).stuck_run_threshold == timedelta(minutes=45)


@pytest.mark.integration
def test_the_steps_read_intervals_without_parsing_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                        store: RedisStore) -> None:
    harness = Harness(tmp_path / "project", store)
    harness.archetype("a", ["t1"])
    harness.pipeline("orders", "a", {"t1": None}, extra="watch: {interval: 1m30s}\n"
                     "trigger: {type: http, pollInterval: 45s, http: {url: 'http://127.0.0.1:9/'}}\n")
    deps = harness.deps()
    pipeline = deps.pipeline("orders")
    monkeypatch.setattr(timeutil, "parse_duration", lambda *_: pytest.fail("parsed again"))
    assert deps.check_interval(pipeline) == timedelta(seconds=90)
    assert deps.poll_interval(pipeline) == timedelta(seconds=45)


@pytest.mark.integration
def test_a_pipeline_stored_as_json_text_loads_with_its_spelling(store: RedisStore) -> None:
    # What the string-typed models wrote (and what this version writes): the text as given.
    store.r.set(store.k("pipeline", "orders"), json.dumps(SPELLED, separators=(",", ":")))
    loaded = store.get_pipeline("orders")
    assert loaded == spelled() and loaded.to_json() == SPELLED
    store.register_pipeline(loaded)
    assert json.loads(str(store.r.get(store.k("pipeline", "orders")))) == SPELLED
