"""`interlock check --now ... --json`: what would fire at that instant (and it fires once)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from interlock.store.redis import RedisStore
from tests.test_cli_project import interlock

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    prefix = f"interlock-test-{uuid.uuid4().hex[:12]}:"
    root = tmp_path / "p"
    for folder in ("archetypes", "pipelines"):
        (root / folder).mkdir(parents=True)
    (root / "interlock.yaml").write_text(
        f"provider: redis\nredis: {{addr: '127.0.0.1:6379', keyPrefix: '{prefix}'}}\n"
        "archetypeDirs: [./archetypes]\npipelineDirs: [./pipelines]\n")
    (root / "archetypes" / "m.yaml").write_text(
        "name: marked\nrequiredTraits:\n  - {type: ready-marker}\nreadinessRule: {type: all-required-pass}\n")
    (root / "pipelines" / "orders.yaml").write_text(
        "name: orders\narchetype: marked\ntrigger: {type: command, command: 'true'}\n"
        "schedules:\n  - {name: daily, deadline: '09:00', timezone: Europe/London}\n")
    yield root
    RedisStore(redis.Redis(host="127.0.0.1", decode_responses=True), prefix).purge()


def test_check_at_an_instant_lists_the_alerts_that_fire_then_and_only_once(project: Path) -> None:
    # Registered (by the first command, at the real time) before the instants checked below.
    assert interlock("validate", cwd=project).returncode == 0
    before = json.loads(interlock("check", "--now", "2030-06-03T07:59:00Z", "--json", cwd=project).stdout)
    # Nothing ever evaluated it (no workers ran): the day before was missed, today's deadline is not here yet.
    assert [(a["category"], a["details"]["period"]) for a in before] == [("schedule_missed", "2030-06-02")]
    after = json.loads(interlock("check", "--now", "2030-06-03T08:01:00Z", "--json", cwd=project).stdout)
    assert [(a["category"], a["pipelineId"], a["scheduleId"], a["level"]) for a in after] == [
        ("schedule_missed", "orders", "daily", "error")]  # 09:00 BST is 08:00 UTC
    assert after[0]["details"]["period"] == "2030-06-03" and "message" in after[0]
    again = json.loads(interlock("check", "--now", "2030-06-03T08:30:00Z", "--json", cwd=project).stdout)
    assert again == []


def test_check_refuses_an_instant_without_a_zone(project: Path) -> None:
    result = interlock("check", "--now", "2030-06-03T08:01:00", cwd=project)
    assert result.returncode == 2
    assert "--now needs a time zone" in result.stderr
