"""Archive lag: with an archive the change stream is not trimmed at its cap, and lagging is loud.

A small ``archiver.streamCap`` (10) and ``lagAlertShare`` (0.5) on the real Redis and PostgreSQL:
the archiver falling 250 changes behind loses none of them, raises ``archive_lagging`` once per
episode, and ``GET /metrics`` shows the lag and the cap.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from interlock import metrics
from interlock.config import ConfigInvalid, load_project
from interlock.model import Event, EventKind
from interlock.steps.archive import archive, archive_gauges, check_lag
from interlock.steps.deps import Deps, build_deps
from interlock.store.redis import RedisStore

pytestmark = pytest.mark.integration

CONFIG = """\
provider: redis
redis: {{addr: '127.0.0.1:6379', keyPrefix: '{prefix}'}}
archetypeDirs: [./archetypes]
pipelineDirs: [./pipelines]
alerts: [{{type: file, path: alerts.jsonl}}]
archiver: {{enabled: {enabled}, dsn: '{dsn}', streamCap: 10, lagAlertShare: 0.5}}
"""


def _deps(root: Path, dsn: str, enabled: bool = True) -> Deps:
    for folder in ("archetypes", "pipelines"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    prefix = f"interlock-test-{uuid.uuid4().hex[:12]}:"
    (root / "interlock.yaml").write_text(CONFIG.format(prefix=prefix, dsn=dsn, enabled=str(enabled).lower()))
    project = load_project(root / "interlock.yaml", env={})
    return build_deps(project, store=RedisStore.from_settings(project.settings))


@pytest.fixture
def lagging(tmp_path: Path, migrated: Engine, database_url: str) -> Iterator[Deps]:
    deps = _deps(tmp_path / "on", database_url)
    yield deps
    assert isinstance(deps.store, RedisStore)
    deps.store.purge()


def _changes(deps: Deps, n: int) -> None:
    for i in range(n):
        deps.store.append_event(Event(kind=EventKind.TRAIT_EVALUATED, pipeline_id="orders", status="PASS",
                                      message=f"change {i}", timestamp=datetime(2026, 3, 2, tzinfo=UTC)))


def _alerts(deps: Deps) -> list[dict[str, object]]:
    path = deps.project.root / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_lagging_archiver_loses_nothing_and_is_alerted_once_per_episode(lagging: Deps, migrated: Engine,
                                                                         tmp_path: Path) -> None:
    _changes(lagging, 250)  # 25 times the cap: nothing is trimmed while the archive has not copied it
    assert lagging.store.change_backlog() == 250
    assert check_lag(lagging) == 250
    assert check_lag(lagging) == 251  # the alert is a change too; still the same episode: no second alert
    [alert] = _alerts(lagging)
    assert alert["alertType"] == "archive_lagging" and alert["details"] == {"lag": 250, "threshold": 5, "cap": 10}
    gauges = metrics.render({}, archive_gauges(lagging))
    assert "# TYPE interlock_archive_lag_entries gauge\ninterlock_archive_lag_entries 251" in gauges
    assert "interlock_archive_stream_cap 10" in gauges

    assert archive(lagging) == 251  # every change reaches the archive, then the stream is trimmed
    with migrated.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar() == 250
        assert conn.execute(text("SELECT alert_type FROM alerts")).scalars().all() == ["archive_lagging"]
    assert lagging.store.change_backlog() == 0
    assert check_lag(lagging) == 0  # caught up: the episode is over
    assert len(_alerts(lagging)) == 1

    _changes(lagging, 6)  # past the share again: a new episode, a new alert
    assert archive(lagging) == 7  # the six and the new alert
    assert [a["alertType"] for a in _alerts(lagging)] == ["archive_lagging", "archive_lagging"]


def test_without_an_archive_the_stream_is_trimmed_at_the_cap(tmp_path: Path, database_url: str) -> None:
    deps = _deps(tmp_path / "off", database_url, enabled=False)
    try:
        _changes(deps, 250)
        # MAXLEN ~ trims whole stream nodes (100 entries by default): near the cap, far below 250.
        assert deps.store.change_backlog() < 250
        assert archive_gauges(deps) != {}  # a DSN is configured: the gauge is there, Beat does not archive
    finally:
        assert isinstance(deps.store, RedisStore)
        deps.store.purge()


@pytest.mark.parametrize(("setting", "problem"), [
    ("streamCap: 5", "streamCap"), ("lagAlertShare: 0", "lagAlertShare"), ("lagAlertShare: 1.5", "lagAlertShare"),
    ("streamCap: many", "streamCap"),
])
def test_bad_lag_settings_are_refused_naming_the_field(tmp_path: Path, setting: str, problem: str) -> None:
    root = tmp_path / "bad"
    for folder in ("archetypes", "pipelines"):
        (root / folder).mkdir(parents=True)
    (root / "interlock.yaml").write_text(
        "provider: redis\narchetypeDirs: [./archetypes]\npipelineDirs: [./pipelines]\n"
        f"archiver: {{enabled: true, {setting}}}\n")
    with pytest.raises(ConfigInvalid) as exc:
        load_project(root / "interlock.yaml", env={})
    assert problem in str(exc.value) and "archiver" in str(exc.value)
