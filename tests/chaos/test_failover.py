"""Issue 22: the Redis primary SIGKILLed twice under load, Sentinel failing over: one trigger per period, none lost."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.common import write_result
from tests.chaos.failover import FailoverConfig, report, run_failover

pytestmark = [pytest.mark.chaos, pytest.mark.integration]


@pytest.mark.timeout(400)
def test_every_period_triggers_once_and_none_is_lost_when_the_redis_primary_fails_over_twice(tmp_path: Path) -> None:
    workdir = tmp_path / "failover"  # logs, fired.log, alerts.jsonl, sentinel and redis logs: kept if it fails
    config = FailoverConfig()
    outcome = run_failover(config, workdir)
    print("\n" + report(outcome))
    print(f"written to {write_result('chaos-failover', outcome.figures())}")
    assert outcome.pushes == outcome.periods >= 200
    # Both failovers happened: the second promoted the node the first one killed (restarted as a replica).
    assert outcome.primary_kills == 2
    first, second = outcome.failovers
    assert second["promoted_port"] == first["killed_port"] and second["killed_port"] == first["promoted_port"]
    assert outcome.crashes == [], "a worker or Beat exited by itself instead of riding out the failover"
    assert outcome.duplicates == 0, outcome.duplicate_details
    assert outcome.lost == 0, outcome.lost_details
    assert outcome.stuck_reported == 0, outcome.stuck_details
    assert outcome.alerts_duplicated == 0, outcome.alert_duplicate_details
    assert outcome.exhausted_alerts_missing == 0
    # Within the stated bound (settle_timeout after the last push, not a timing assertion on speed).
    assert outcome.settled, f"not settled {config.settle_timeout:.0f}s after the last push"
    assert outcome.completed + outcome.failed_as_expected == outcome.periods
    assert sorted(outcome.workers_answering) == ["alerts", "archival", "evaluation", "run_check", "schedule", "trigger"]
    assert outcome.overdue_after_settle == 0, "due work left undispatched: is Beat reconciling?"
    shutil.rmtree(workdir, ignore_errors=True)
