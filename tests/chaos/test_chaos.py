"""Issue 11: under SIGKILLs, a Redis crash and a 10 s broker outage, one trigger per period, none lost."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.common import write_result
from tests.chaos.scenario import ChaosConfig, report, run_chaos

pytestmark = [pytest.mark.chaos, pytest.mark.integration]


@pytest.mark.timeout(600)
def test_every_period_triggers_once_and_none_is_lost_under_kills_redis_crash_and_broker_outage(
        tmp_path: Path) -> None:
    workdir = tmp_path / "chaos"  # logs, fired.log, alerts.jsonl and the AOF: kept only when the test fails
    outcome = run_chaos(ChaosConfig(), workdir)
    print("\n" + report(outcome))
    print(f"written to {write_result('chaos', outcome.figures())}")
    assert outcome.pushes == outcome.periods >= 200
    assert outcome.kills >= 10 and outcome.redis_restarts == 1 and outcome.broker_outage_seconds >= 10
    assert outcome.crashes == [], "a worker or Beat exited by itself instead of riding out the faults"
    assert outcome.duplicates == 0, outcome.duplicate_details
    assert outcome.lost == 0, outcome.lost_details
    assert outcome.alerts_duplicated == 0, outcome.alert_duplicate_details
    assert outcome.completed + outcome.failed_as_expected + outcome.stuck_reported == outcome.periods
    assert sorted(outcome.workers_answering) == ["alerts", "archival", "evaluation", "run_check", "schedule", "trigger"]
    assert outcome.overdue_after_settle == 0, "due work left undispatched: is Beat reconciling?"
    shutil.rmtree(workdir, ignore_errors=True)
