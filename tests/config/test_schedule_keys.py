"""include, triggerAnyway and sla.maxDuration: what loads, and each bad value on its own line with its field path."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from interlock.config import ConfigInvalid, load_project
from interlock.timetypes import Duration, TimeOfDay
from tests.conftest import SIMPLE_ARCHETYPE, ProjectFactory
from tests.test_cli_project import interlock

CALENDAR = "name: month-ends\ndates: ['2026-01-30', '2026-02-27']\n"


def pipeline(body: str) -> str:
    return "name: orders\narchetype: simple\n" + body


def load(make_project: ProjectFactory, body: str) -> Path:
    return make_project(archetypes__simple_yaml=SIMPLE_ARCHETYPE, calendars__me_yaml=CALENDAR,
                        pipelines__orders_yaml=pipeline(body))


def test_every_new_key_loads_with_its_parsed_value(make_project: ProjectFactory) -> None:
    path = load(make_project, """\
sla: {maxDuration: 2h, atRiskLeadTime: 30m}
schedules:
  - {name: close, include: {calendar: month-ends}, triggerAnyway: "10:00"}
  - {name: adhoc, after: "06:00", include: {dates: ["2026-03-31"]}, triggerAnyway: "+4h"}
  - {name: hourly, cron: "0 * * * *", triggerAnyway: "+30m"}
""")
    config = load_project(path, env={}).pipelines["orders"]
    assert config.sla is not None and config.sla.max_duration == timedelta(hours=2)
    close, adhoc, hourly = config.schedule_list()
    assert close.include is not None and close.include.calendar == "month-ends"
    assert isinstance(close.trigger_anyway, TimeOfDay) and close.trigger_anyway.text == "10:00"
    assert adhoc.include is not None and adhoc.include.dates == ["2026-03-31"]
    assert isinstance(adhoc.trigger_anyway, Duration) and adhoc.trigger_anyway == timedelta(hours=4)
    assert hourly.trigger_anyway == timedelta(minutes=30)
    assert config.to_json()["schedules"][1] == {"name": "adhoc", "after": "06:00", "include": {"dates": ["2026-03-31"]},
                                                "triggerAnyway": "+4h"}


@pytest.mark.parametrize(("body", "line", "path", "fragment"), [
    ("schedules:\n  - name: s\n    include: {calendar: month-end}\n", 5, "schedules[0].include.calendar",
     "unknown calendar 'month-end' (did you mean 'month-ends'?)"),
    ("schedules:\n  - name: s\n    include: {calendar: 'holidays:XX'}\n", 5, "schedules[0].include.calendar",
     "unknown public-holiday country 'XX'"),
    ("schedules:\n  - name: s\n    include: {dates: ['2026-3-31']}\n", 5, "schedules[0].include.dates[0]",
     "invalid date '2026-3-31': expected YYYY-MM-DD"),
    ("schedules:\n  - name: s\n    include: {dates: ['2026-02-30']}\n", 5, "schedules[0].include.dates[0]",
     "day is out of range for month"),
    ("schedules:\n  - name: s\n    include: {}\n", 5, "schedules[0].include", "name a calendar or list at least one"),
    ("schedules:\n  - name: s\n    after: '06:00'\n    triggerAnyway: '05:59'\n", 6, "schedules[0].triggerAnyway",
     "05:59 is before the window opens at 06:00"),
    ("schedules:\n  - name: s\n    triggerAnyway: '-1h'\n", 5, "schedules[0].triggerAnyway",
     "is before the window opens"),
    ("schedules:\n  - name: s\n    after: '06:00'\n    triggerAnyway: '+18h'\n", 6, "schedules[0].triggerAnyway",
     "is after the period ends (midnight"),
    ("schedules:\n  - name: s\n    cron: '*/15 * * * *'\n    triggerAnyway: '+15m'\n", 6,
     "schedules[0].triggerAnyway", "is after the period ends: cron '*/15 * * * *' has periods as short as 15m"),
    ("schedules:\n  - name: s\n    cron: '0 * * * *'\n    triggerAnyway: '10:00'\n", 6, "schedules[0].triggerAnyway",
     "only a daily schedule has"),
    ("schedules:\n  - name: s\n    triggerAnyway: 'at ten'\n", 5, "schedules[0].triggerAnyway",
     "expected HH:MM (e.g. '10:00') or +duration"),
    ("sla:\n  maxDuration: 0s\n", 4, "sla.maxDuration", "must be greater than zero"),
    ("sla:\n  maxDuration: -2h\n", 4, "sla.maxDuration", "must be greater than zero"),
])
def test_each_bad_value_is_one_error_naming_line_and_field(make_project: ProjectFactory, body: str, line: int,
                                                            path: str, fragment: str) -> None:
    with pytest.raises(ConfigInvalid) as exc:
        load_project(load(make_project, body), env={})
    (error,) = exc.value.errors
    assert (error.line, error.path) == (line, path)
    assert fragment in error.message


def test_validate_prints_file_line_field_and_reason_and_exits_2(make_project: ProjectFactory) -> None:
    path = load(make_project, "schedules:\n  - name: s\n    after: '06:00'\n    triggerAnyway: '05:00'\n"
                              "    include: {calendar: nope}\n")
    result = interlock("validate", cwd=path.parent)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines() + result.stdout.strip().splitlines()
    assert any(ln.startswith("pipelines/orders.yaml:6: schedules[0].triggerAnyway: 05:00 is before the window opens")
               for ln in lines), lines
    assert any(ln.startswith("pipelines/orders.yaml:7: schedules[0].include.calendar: unknown calendar 'nope'")
               for ln in lines), lines
