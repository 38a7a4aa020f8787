"""API registration of include / triggerAnyway / maxDuration: accepted as written, refused as 400 invalid_pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.test_api import client_for, error
from tests.steps.conftest import Harness

pytestmark = pytest.mark.integration


@pytest.fixture
def client(harness: Harness) -> Iterator[TestClient]:
    (harness.root / "calendars").mkdir(parents=True, exist_ok=True)
    (harness.root / "calendars" / "me.yaml").write_text("name: month-ends\ndates: ['2026-01-30']\n")
    test_client, _ = client_for(harness, "calendarDirs: [./calendars]\n")
    with test_client:
        yield test_client


def body(**fields: Any) -> dict[str, Any]:
    return {"name": "close", "archetype": "checked", **fields}


def test_the_new_keys_register_and_read_back_as_written(client: TestClient, harness: Harness) -> None:
    sent = body(sla={"maxDuration": "90m"}, schedules=[
        {"name": "monthly", "include": {"calendar": "month-ends", "dates": ["2026-03-31"]}, "triggerAnyway": "10:00"},
        {"name": "hourly", "cron": "@hourly", "triggerAnyway": "+20m"}])
    assert client.post("/api/pipelines", json=sent).status_code in (200, 201)
    assert client.get("/api/pipelines/close").json() == sent
    assert harness.store.get_pipeline("close").to_json() == sent


@pytest.mark.parametrize(("fields", "fragment"), [
    ({"schedules": [{"name": "s", "include": {"calendar": "month-end"}}]}, "unknown calendar 'month-end'"),
    ({"schedules": [{"name": "s", "include": {"dates": ["31/03/2026"]}}]}, "expected YYYY-MM-DD"),
    ({"schedules": [{"name": "s", "include": {}}]}, "name a calendar or list at least one date"),
    ({"schedules": [{"name": "s", "after": "12:00", "triggerAnyway": "10:00"}]}, "before the window opens"),
    ({"schedules": [{"name": "s", "triggerAnyway": "+24h"}]}, "after the period ends"),
    ({"schedules": [{"name": "s", "cron": "0 * * * *", "triggerAnyway": "+2h"}]}, "after the period ends"),
    ({"schedules": [{"name": "s", "triggerAnyway": 10}]}, "valid string"),
    ({"sla": {"maxDuration": "0s"}}, "greater than zero"),
    ({"sla": {"maxDuration": "-5m"}}, "greater than zero"),
])
def test_bad_values_are_400_invalid_pipeline_and_store_nothing(client: TestClient, harness: Harness,
                                                               fields: dict[str, Any], fragment: str) -> None:
    response = client.post("/api/pipelines", json=body(**fields))
    assert error(response) == (400, "invalid_pipeline")
    assert fragment in response.text
    assert sorted(p.name for p in harness.store.list_pipelines()) == ["blocked", "orders"]
