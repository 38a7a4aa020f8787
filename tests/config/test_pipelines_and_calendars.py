"""Pipeline and calendar directories as the reference loads them (fixed: missing dirs, shorthand trigger)."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from interlock.config import ConfigInvalid, load_project
from interlock.model import TriggerType
from tests.conftest import SIMPLE_ARCHETYPE, ProjectFactory

BATCH = SIMPLE_ARCHETYPE.replace("name: simple", "name: batch-ingestion")


def test_a_minimal_pipeline_file_loads(make_project: ProjectFactory) -> None:
    path = make_project(archetypes__b_yaml=BATCH,
                        pipelines__t_yaml="name: test-pipeline\narchetype: batch-ingestion\n")
    assert list(load_project(path, env={}).pipelines) == ["test-pipeline"]


def test_empty_pipeline_directory_gives_no_pipelines(make_project: ProjectFactory) -> None:
    assert load_project(make_project(archetypes__b_yaml=BATCH), env={}).pipelines == {}


def test_unparsable_pipeline_file_fails(make_project: ProjectFactory) -> None:
    path = make_project(archetypes__b_yaml=BATCH, pipelines__bad_yaml=":\n  :\n  - [invalid")
    with pytest.raises(ConfigInvalid) as exc:
        load_project(path, env={})
    assert exc.value.errors[0].file.endswith("pipelines/bad.yaml")
    assert exc.value.errors[0].message.startswith("invalid YAML")


def test_pipeline_file_without_name_is_an_error_not_skipped(make_project: ProjectFactory) -> None:
    path = make_project(archetypes__b_yaml=BATCH, pipelines__p_yaml="archetype: batch-ingestion\n")
    with pytest.raises(ConfigInvalid) as exc:
        load_project(path, env={})
    assert [(e.path, e.message) for e in exc.value.errors] == [("name", "field required")]


def test_non_yaml_files_and_subdirectories_are_skipped_and_yml_is_read(make_project: ProjectFactory) -> None:
    path = make_project(
        archetypes__b_yaml=BATCH,
        pipelines__readme_txt="name: nope",
        pipelines__data_json='{"name": "nope"}',
        pipelines__sub__x_yaml="name: nope\narchetype: batch-ingestion\n",
        pipelines__test_yml="name: from-yml\narchetype: batch-ingestion\n",
    )
    assert list(load_project(path, env={}).pipelines) == ["from-yml"]


def test_reference_test_pipeline_loads_with_its_nested_trigger(reference_project: Path) -> None:
    p = load_project(reference_project / "interlock.yaml", env={}).pipelines["test-pipeline"]
    assert p.tier == 2
    assert p.trigger is not None and p.trigger.type is TriggerType.COMMAND
    assert p.trigger.command is not None and p.trigger.command.command == "echo test-complete"
    freshness = (p.traits or {})["freshness"]
    assert freshness is not None
    assert (freshness.evaluator, freshness.config, freshness.ttl, freshness.timeout) == (
        "./testdata/evaluators/pass", {"maxLagSeconds": 30}, 60, 5)


def test_reference_init_example_with_string_command_is_accepted_as_shorthand(reference_project: Path) -> None:
    p = load_project(reference_project / "interlock.yaml", env={}).pipelines["example"]
    assert p.trigger is not None and p.trigger.command is not None
    assert p.trigger.command.command == "echo 'Pipeline executed successfully'"
    assert p.trigger.to_json() == {"type": "command", "command": {"command": "echo 'Pipeline executed successfully'"}}


def test_duplicate_pipeline_names_across_files_are_an_error(make_project: ProjectFactory) -> None:
    text = "name: orders\narchetype: batch-ingestion\n"
    path = make_project(archetypes__b_yaml=BATCH, pipelines__a_yaml=text, pipelines__b_yaml=text)
    with pytest.raises(ConfigInvalid) as exc:
        load_project(path, env={})
    (error,) = exc.value.errors
    assert error.file.endswith("pipelines/b.yaml") and error.path == "name"
    assert "already defined in" in error.message


def test_calendars_load_from_yaml_and_yml_and_skip_other_files(make_project: ProjectFactory) -> None:
    path = make_project(
        calendars__us_business_yaml="name: us-business\ndays: [saturday, sunday]\ndates: [2025-12-25, 2025-01-01]\n",
        calendars__uk_business_yml="name: uk-business\ndates: [2025-12-25, 2025-12-26]\n",
        calendars__README_md="# calendars",
    )
    calendars = load_project(path, env={}).calendars
    assert calendars["us-business"].days == ["saturday", "sunday"]
    assert set(calendars["us-business"].dates or []) == {"2025-12-25", "2025-01-01"}
    assert "2025-12-26" in (calendars["uk-business"].dates or [])


def test_calendar_without_name_fails(make_project: ProjectFactory) -> None:
    with pytest.raises(ConfigInvalid) as exc:
        load_project(make_project(calendars__c_yaml='days: ["saturday"]\n'), env={})
    assert [(e.path, e.message) for e in exc.value.errors] == [("name", "field required")]


def test_missing_calendar_directory_fails(make_project: ProjectFactory) -> None:
    from tests.conftest import MINIMAL_CONFIG
    path = make_project(MINIMAL_CONFIG.replace("./calendars", "./no-calendars"))
    with pytest.raises(ConfigInvalid) as exc:
        load_project(path, env={})
    assert exc.value.errors[0].path == "calendarDirs[0]"


def test_pipeline_naming_a_known_calendar_loads(make_project: ProjectFactory) -> None:
    path = make_project(
        archetypes__b_yaml=BATCH,
        calendars__w_yaml="name: weekends\ndays: [Saturday, SUNDAY]\n",
        pipelines__p_yaml="name: orders\narchetype: batch-ingestion\nexclusions: {calendar: weekends}\n",
    )
    assert load_project(path, env={}).pipelines["orders"].exclusions is not None


@pytest.mark.parametrize("text", ["2025-1-1", "2025-02-30", "25-12-2025"])
def test_calendar_dates_must_be_real_iso_dates(make_project: ProjectFactory, text: str) -> None:
    with pytest.raises(ConfigInvalid) as exc:
        load_project(make_project(calendars__c_yaml=f"name: c\ndates: ['{text}']\n"), env={})
    assert [e.path for e in exc.value.errors] == ["dates[0]"]


def test_unquoted_times_and_dates_stay_strings_as_in_yaml_1_2(make_project: ProjectFactory) -> None:
    # PyYAML alone would read 9:05 as 545 (base 60) and 2025-12-25 as a date object.
    path = make_project(
        archetypes__b_yaml=BATCH,
        calendars__c_yaml="name: c\ndates: [2025-12-25]\n",
        pipelines__p_yaml="name: orders\narchetype: batch-ingestion\nschedules:\n  - name: morning\n    after: 9:05\n",
    )
    project = load_project(path, env={})
    assert project.calendars["c"].dates == ["2025-12-25"]
    after = (project.pipelines["orders"].schedules or [])[0].after
    assert after == time(9, 5) and after is not None and after.text == "9:05"


def test_legacy_flat_trigger_is_hoisted_into_its_block(make_project: ProjectFactory) -> None:
    path = make_project(
        archetypes__b_yaml=BATCH,
        pipelines__p_yaml="name: orders\narchetype: batch-ingestion\n"
                          "trigger: {type: http, method: GET, url: 'http://127.0.0.1:9/x'}\n",
    )
    trigger = load_project(path, env={}).pipelines["orders"].trigger
    assert trigger is not None
    assert trigger.to_json() == {"type": "http", "http": {"method": "GET", "url": "http://127.0.0.1:9/x"}}


def test_reference_json_spelling_of_trigger_blocks_is_accepted_and_written_as_yaml_spelling() -> None:
    from interlock.model import PipelineConfig
    p = PipelineConfig.model_validate({
        "name": "orders", "archetype": "a",
        "trigger": {"type": "emr-serverless", "emrServerless": {"applicationId": "app", "jobName": "j"}},
    })
    assert p.to_json()["trigger"] == {
        "type": "emr-serverless", "emr_serverless": {"application_id": "app", "job_name": "j"}}
    assert PipelineConfig.model_validate(p.to_json()) == p


@pytest.mark.parametrize(("calendar", "problem"), [
    ("holidays:US", None), ("holidays:GB-ENG", None),
    ("holidays:XX", "unknown public-holiday country 'XX'"), ("holidays:GB-XYZ", "unknown subdivision 'XYZ' of GB"),
])
def test_public_holiday_calendars_are_checked_at_load(make_project: ProjectFactory, calendar: str,
                                                      problem: str | None) -> None:
    text = f"name: orders\narchetype: batch-ingestion\nexclusions: {{calendar: '{calendar}'}}\n"
    path = make_project(archetypes__b_yaml=BATCH, pipelines__p_yaml=text)
    if problem is None:
        assert load_project(path, env={}).pipelines["orders"].exclusions is not None
        return
    with pytest.raises(ConfigInvalid) as exc:
        load_project(path, env={})
    (error,) = exc.value.errors
    assert error.path == "exclusions.calendar" and problem in error.message


def test_catch_up_policy_must_be_known(make_project: ProjectFactory) -> None:
    path = make_project(archetypes__b_yaml=BATCH, pipelines__p_yaml="name: orders\narchetype: batch-ingestion\n"
                        "catchUp: everything\n")
    with pytest.raises(ConfigInvalid) as exc:
        load_project(path, env={})
    (error,) = exc.value.errors
    assert error.path == "catchUp" and "'skip', 'latest' or 'all'" in error.message
