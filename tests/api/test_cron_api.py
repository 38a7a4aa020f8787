"""The API with cron schedules: bad schedules refused at registration, run logs addressed by period key."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from interlock.model import RunLogEntry, RunStatus
from interlock.steps.dispatch import InlineDispatcher
from tests.api.test_api import client_for, error
from tests.steps.conftest import Harness

pytestmark = pytest.mark.integration


@pytest.fixture
def api(harness: Harness) -> Iterator[tuple[TestClient, InlineDispatcher, Harness]]:
    harness.pipeline("hourly", "marked", {}, extra="trigger:\n  type: command\n  command: {command: 'true'}\n"
                     "schedules:\n  - {name: h, cron: '0 * * * *', timezone: Europe/London}\n")
    client, inline = client_for(harness)
    with client:
        yield client, inline, harness


@pytest.mark.parametrize(("schedule", "fragment"), [
    ({"cron": "0 25 * * *"}, "bad hour"),
    ({"cron": "0 * * * *", "timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"cron": "0 * * * *", "after": "06:00"}, "cannot be combined with cron"),
    ({"deadline": ":15"}, "needs an hourly cron schedule"),
    ({"cron": "0 * * * *", "deadline": "+90m"}, "longer than the shortest period"),
    ({"cron": "@monthly"}, "retentionTtl"),
])
def test_a_bad_schedule_is_refused_and_nothing_is_stored(api: tuple[TestClient, InlineDispatcher, Harness],
                                                         schedule: dict[str, Any], fragment: str) -> None:
    client, _, harness = api
    body = {"name": "x1", "archetype": "checked", "schedules": [{"name": "s", **schedule}]}
    response = client.post("/api/pipelines", json=body)
    assert error(response) == (400, "invalid_pipeline") and fragment in response.text
    assert "x1" not in [p.name for p in harness.store.list_pipelines()]


def test_a_run_log_is_addressed_by_its_cron_period_key(api: tuple[TestClient, InlineDispatcher, Harness]) -> None:
    client, _, harness = api
    at = datetime(2026, 10, 25, 1, tzinfo=UTC)
    harness.store.put_run_log(RunLogEntry(pipeline_id="hourly", date="2026-10-25T0100p0000", schedule_id="h",
                                          status=RunStatus.COMPLETED, attempt_number=1,
                                          run_id="hourly-h-2026-10-25T0100p0000-1", started_at=at, updated_at=at))
    found = client.get("/api/pipelines/hourly/runlogs/2026-10-25T0100p0000", params={"schedule": "h"})
    assert found.status_code == 200 and found.json()["runId"] == "hourly-h-2026-10-25T0100p0000-1"
    # The other 01:00 of that night is another period, with no run.
    other = client.get("/api/pipelines/hourly/runlogs/2026-10-25T0100", params={"schedule": "h"})
    assert error(other) == (404, "runlog_not_found")
    bad = client.get("/api/pipelines/hourly/runlogs/2026-10-25T0130", params={"schedule": "h"})
    assert error(bad) == (400, "bad_request") and "not a fire time" in bad.text
    daily = client.get("/api/pipelines/orders/runlogs/2026-10-25T0100")
    assert error(daily) == (400, "bad_request") and "periods are dates" in daily.text
