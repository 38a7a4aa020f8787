"""Issue 19: trigger workers SIGKILLed between the claim and the start: every period's job exists
exactly once at the target and every period completes, the watchdog asking the target."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.common import write_result
from tests.chaos.recovery import RecoveryConfig, report, run_recovery

pytestmark = [pytest.mark.chaos, pytest.mark.integration]


@pytest.mark.timeout(420)
def test_runs_whose_worker_died_between_claim_and_start_are_recovered_once_and_none_is_lost(
        tmp_path: Path) -> None:
    workdir = tmp_path / "recovery"  # logs, kill markers, alerts.jsonl: kept only when the test fails
    outcome = run_recovery(RecoveryConfig(), workdir)
    print("\n" + report(outcome))
    print(f"written to {write_result('chaos-recovery', outcome.figures())}")
    # Meaningful only if the kills landed in the window, both ways: say so rather than pass.
    assert outcome.kills_before_start >= 1, "no trigger worker died before asking Airflow: nothing to restart"
    assert outcome.kills_after_start >= 1, "no trigger worker died after Airflow created the DAG run: nothing to find"
    assert outcome.pushes == outcome.periods == 40
    assert outcome.crashes == [], "a worker or Beat exited by itself"
    assert outcome.duplicates == 0, outcome.duplicate_details
    assert outcome.distinct_dag_run_ids == outcome.dag_runs_created == outcome.periods
    assert outcome.lost == 0, outcome.lost_details
    assert outcome.completed == outcome.periods
    # Each kill before the start was settled by starting the DAG run, each kill after it by finding it.
    assert outcome.kills_not_recovered_as_expected == []
    assert outcome.recovered_restarted >= outcome.kills_before_start >= 1
    assert outcome.recovered_found >= outcome.kills_after_start >= 1
    assert outcome.stuck_alerts == 0, "a run was reported stuck instead of recovered"
    assert sorted(outcome.workers_answering) == ["alerts", "archival", "evaluation", "run_check", "schedule", "trigger"]
    shutil.rmtree(workdir, ignore_errors=True)
