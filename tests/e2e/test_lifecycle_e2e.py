"""The whole lifecycle with real worker processes, Beat, Redis and HTTP targets."""

from __future__ import annotations

import concurrent.futures
import json

import pytest

from tests.e2e.conftest import Deployment, wait_for

pytestmark = pytest.mark.integration


def test_a_pushed_marker_gets_the_pipeline_triggered_once(deployment: Deployment) -> None:
    assert deployment.fired("happy") == []
    deployment.cli("push", "happy", "ready-marker", "--status", "PASS")
    runs = wait_for(lambda: deployment.fired("happy"), 30, "the happy pipeline to fire")
    assert len(runs) == 1
    wait_for(lambda: deployment.run_log_status("happy") == "COMPLETED", 30, "COMPLETED")
    events = json.loads(deployment.cli("events", "happy", "--json").stdout)
    kinds = [e["kind"] for e in events]
    pushed, fired_at = kinds.index("TRAIT_PUSHED"), kinds.index("TRIGGER_FIRED")
    assert any(e["kind"] == "READINESS_CHECKED" and e["status"] == "READY" for e in events[pushed:fired_at])
    assert "PIPELINE_COMPLETED" in kinds[fired_at:]


def test_a_blocked_pipeline_starts_once_its_evaluator_passes(deployment: Deployment) -> None:
    status = wait_for(lambda: json.loads(deployment.cli("status", "blocked", "--json").stdout)[0]["readiness"],
                      30, "a first evaluation")
    assert status == "NOT_READY"
    assert deployment.fired("blocked") == []
    (deployment.root / "data" / "ready-flag").touch()
    wait_for(lambda: deployment.fired("blocked"), 30, "the blocked pipeline to fire after the flag appeared")
    assert len(deployment.fired("blocked")) == 1


def test_a_failing_trigger_is_retried_with_backoff_then_alerts_once(deployment: Deployment) -> None:
    deployment.cli("push", "failing", "ready-marker", "--status", "PASS")
    wait_for(lambda: any(a.get("alertType") == "retry_exhausted" and a.get("pipelineId") == "failing"
                         for a in deployment.alerts()), 60, "the exhausted alert")
    rows = json.loads(deployment.cli("status", "failing", "--json").stdout)
    assert (rows[0]["status"], rows[0]["attempt"]) == ("FAILED", 3)
    events = json.loads(deployment.cli("events", "failing", "--limit", "500", "--json").stdout)
    assert [e["kind"] for e in events].count("TRIGGER_FAILED") == 3
    assert [e["kind"] for e in events].count("RETRY_SCHEDULED") == 2
    # Keep looking a while: more reconcile passes must not repeat the alert.
    deployment.cli("run", "failing")
    exhausted = [a for a in deployment.alerts() if a.get("alertType") == "retry_exhausted"
                 and a.get("pipelineId") == "failing"]
    assert len(exhausted) == 1
    assert "Next: fix the cause" in exhausted[0]["message"]


def test_completion_cascades_bronze_to_silver_to_gold(deployment: Deployment) -> None:
    deployment.cli("push", "bronze", "ready-marker", "--status", "PASS")
    wait_for(lambda: deployment.fired("gold"), 60, "gold to fire after silver")
    assert [len(deployment.fired(p)) for p in ("bronze", "silver", "gold")] == [1, 1, 1]


def test_an_http_job_stays_running_until_its_completion_callback(deployment: Deployment) -> None:
    deployment.cli("push", "hook", "ready-marker", "--status", "PASS")
    wait_for(lambda: deployment.target.posts("/start/hook"), 30, "the http trigger")
    (request,) = deployment.target.posts("/start/hook")
    run_id = request["headers"]["Idempotency-Key"]
    wait_for(lambda: deployment.run_log_status("hook") == "RUNNING", 30, "RUNNING")
    done = deployment.cli("complete", run_id, "--status", "success", "--metadata", '{"rows": 7}')
    assert done.returncode == 0, done.stderr
    assert deployment.run_log_status("hook") == "COMPLETED"
    again = deployment.cli("complete", run_id, "--status", "success", check=False)
    assert again.returncode == 2 and "cannot be completed" in again.stderr


def test_an_airflow_dag_run_is_created_once_and_polled_to_success(deployment: Deployment) -> None:
    deployment.cli("push", "flow", "ready-marker", "--status", "PASS")
    wait_for(lambda: deployment.run_log_status("flow") == "COMPLETED", 60, "the DAG run to succeed")
    (created,) = deployment.target.posts("/api/v2/dags/nightly/dagRuns")
    assert created["body"]["dag_run_id"].startswith("flow-daily-")
    polls = [r for r in deployment.target.requests if r["method"] == "GET" and "nightly" in r["path"]]
    assert len(polls) >= 2


def test_two_workers_racing_one_period_fire_one_trigger(deployment: Deployment) -> None:
    deployment.cli("push", "race", "ready-marker", "--status", "PASS")
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda _: deployment.cli("run", "race"), range(6)))
    wait_for(lambda: deployment.fired("race"), 30, "the race pipeline to fire")
    wait_for(lambda: deployment.run_log_status("race") == "COMPLETED", 30, "COMPLETED")
    assert len(deployment.fired("race")) == 1


def test_drift_during_monitoring_requests_a_rerun_and_alerts(deployment: Deployment) -> None:
    deployment.cli("push", "monitored", "ready-marker", "--status", "PASS")
    wait_for(lambda: deployment.run_log_status("monitored") == "COMPLETED_MONITORING", 30, "monitoring")
    deployment.cli("push", "monitored", "ready-marker", "--status", "FAIL", "--reason", "late correction")
    wait_for(lambda: any(a.get("alertType") == "trait_drift" for a in deployment.alerts()), 30, "the drift alert")
    (requested,) = deployment.store.list_reruns("monitored")
    assert (requested.reason, requested.status.value) == ("monitoring_drift_detected", "PENDING")
    wait_for(lambda: deployment.run_log_status("monitored") == "COMPLETED", 30, "COMPLETED after drift")
    # The data is right again: the requested rerun really runs and completes.
    deployment.cli("push", "monitored", "ready-marker", "--status", "PASS")
    result = deployment.cli("rerun", "--id", requested.rerun_id, "--wait", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "COMPLETED"
    assert len(deployment.fired("monitored")) == 2
